"""A USB GSM modem as the clinic's own SMS line: the PDU codec (pdu), the AT command
line (at), the texts on the SIM (inbox), status reports matched to what was sent
(tracking), and the gateway that puts them together (gateway). See docs/modem.md."""

from sms_gateway.modem.gateway import ModemGateway

__all__ = ["ModemGateway"]
