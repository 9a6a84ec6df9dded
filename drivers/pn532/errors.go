package pn532

import (
	"errors"
	"fmt"

	"posd/conn/apdu"
)

// Sentinel errors. Every error returned by this package wraps one of these
// (or is a *StatusError), so callers decide with errors.Is / errors.As and
// IsTransient. No error string ever carries APDU payloads, UIDs or other
// card data: only command codes, lengths and status codes.
var (
	// ErrFrame means the bytes read from the chip do not form a valid frame
	// (missing start code, bad postamble, impossible length, unexpected
	// TFI or response code). Transient: the host asks for the frame again
	// with a NACK.
	ErrFrame = errors.New("pn532: malformed frame")

	// ErrIncomplete means the buffer ends before the frame does. It wraps
	// ErrFrame; stream readers (HSU) use it to keep reading.
	ErrIncomplete = fmt.Errorf("%w: incomplete", ErrFrame)

	// ErrChecksum means the LCS or DCS of a frame does not sum to zero
	// (UM0701-02 §6.2.1.1). Transient.
	ErrChecksum = errors.New("pn532: frame checksum mismatch")

	// ErrNACK means the chip sent a NACK frame where a response was
	// expected. The chip never does this in normal operation
	// (UM0701-02 §6.2.1.4: NACK only travels host to chip). Transient.
	ErrNACK = errors.New("pn532: unexpected NACK frame")

	// ErrApplication means the chip answered with the syntax error frame
	// 00 00 FF 01 FF 7F 81 00 (UM0701-02 §6.2.1.5): it received a frame it
	// could not interpret. Transient: the command is sent again.
	ErrApplication = errors.New("pn532: application level error frame")

	// ErrTimeout means the chip did not become ready before the ACK
	// timeout or the response timeout. Transient.
	ErrTimeout = errors.New("pn532: timeout waiting for the chip")

	// ErrTooLong means a command or its parameters do not fit the largest
	// frame the firmware accepts. Fatal for that call.
	ErrTooLong = errors.New("pn532: data too long for a frame")

	// ErrNoTarget means no card answered InListPassiveTarget, or Transmit
	// was called without a listed target. Not a fault of the link.
	ErrNoTarget = errors.New("pn532: no target")

	// ErrCollision means more than one card answered InListPassiveTarget
	// (NbTg 2): none of them is made the target of Transmit. Not a fault
	// of the link: the holder has to present one card only (EMV Book D
	// collision detection). The chip keeps both activated until Release
	// or the next InListPassiveTarget.
	ErrCollision = errors.New("pn532: more than one card in the field")

	// ErrNotISODEP means Transmit was called for a listed card that does
	// not speak ISO 14443-4 (type A SAK without bit 0x20, such as a
	// MIFARE Classic with SAK 0x08, or a type B card whose ATQB protocol
	// type lacks the ISO 14443-4 bit): it takes no APDU, so it is no
	// payment card. Not transient and not a removal: the holder has to
	// present another card.
	ErrNotISODEP = errors.New("pn532: the card does not speak ISO 14443-4")

	// ErrBadResponse means a response parsed as a valid frame but its
	// parameters are inconsistent (e.g. a UID length running past the end).
	// Fatal for that call.
	ErrBadResponse = errors.New("pn532: malformed response parameters")

	// ErrBus means the transport (I2C, SPI or serial port) failed; the
	// underlying error is wrapped too. The driver has already retried: the
	// I2C transport repeats a failed transfer (libnfc's pn532_i2c.c does
	// so three times), a command is resent after a failed write or ACK
	// read and a failed response read is answered with NACK, and with a
	// RSTPDN line (Opts.Reset) the chip is reset and initialised again.
	// An ErrBus that still comes out is not transient: the board has to
	// look at the bus (the board retries initialisation in the
	// background).
	ErrBus = errors.New("pn532: bus error")

	// ErrReset means the driver reset the chip through RSTPDN to recover
	// from bus errors while a card was listed: the chip is usable again
	// but the card's session is gone, so the command was not repeated.
	// Transient: list the card again.
	ErrReset = errors.New("pn532: chip reset after bus errors, card session lost")
)

// StatusError is a non-zero status byte returned by the chip in a response
// (for example InDataExchange, InRelease), see UM0701-02 §7.1 table 1.
type StatusError struct {
	Cmd  byte // command code that failed
	Code byte // error code (status & 0x3F)
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("pn532: command 0x%02X failed with status 0x%02X (%s)", e.Cmd, e.Code, statusText(e.Code))
}

// Transient reports whether the error is an RF transmission problem that a
// retry may cure (timeout, CRC, parity, framing, buffer overflow), as
// opposed to a card that disappeared or a command the chip refuses.
func (e *StatusError) Transient() bool {
	switch e.Code {
	case 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x09, 0x0B, 0x13:
		return true
	}
	return false
}

// TargetGone reports whether the status says the listed card is no longer
// the one in the field: released (0x29), exchanged with another card
// (0x2A, type B: the chip saw a different PUPI) or disappeared (0x2B).
func (e *StatusError) TargetGone() bool {
	return e.Code == 0x29 || e.Code == 0x2A || e.Code == 0x2B
}

// Is makes errors.Is(err, apdu.ErrCardRemoved) true for a status that
// says the card is gone, as the apdu.Transceiver contract asks.
func (e *StatusError) Is(target error) bool {
	return target == apdu.ErrCardRemoved && e.TargetGone()
}

func statusText(c byte) string {
	switch c {
	case 0x01:
		return "target timeout"
	case 0x02:
		return "CRC error"
	case 0x03:
		return "parity error"
	case 0x04:
		return "erroneous bit count in anticollision"
	case 0x05:
		return "framing error"
	case 0x06:
		return "abnormal bit collision"
	case 0x07:
		return "communication buffer too small"
	case 0x09:
		return "RF buffer overflow"
	case 0x0A:
		return "RF field not switched on in time"
	case 0x0B:
		return "RF protocol error"
	case 0x0D:
		return "temperature error"
	case 0x0E:
		return "internal buffer overflow"
	case 0x10:
		return "invalid parameter"
	case 0x12:
		return "DEP command not supported"
	case 0x13:
		return "wrong data format from target"
	case 0x14:
		return "authentication error"
	case 0x23:
		return "wrong UID check byte"
	case 0x25:
		return "invalid device state"
	case 0x26:
		return "operation not allowed"
	case 0x27:
		return "command not acceptable in context"
	case 0x29:
		return "target released"
	case 0x2A:
		return "card exchanged with another one"
	case 0x2B:
		return "card disappeared"
	case 0x2C:
		return "NFCID3 mismatch"
	case 0x2D:
		return "over-current"
	case 0x2E:
		return "NAD missing"
	}
	return "unknown"
}

// IsTransient reports whether err is worth retrying at a higher level
// (link noise, timeouts, RF errors) rather than a fatal condition (bus
// failure, bad parameters, card gone, context cancelled).
func IsTransient(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Transient()
	}
	if errors.Is(err, ErrReset) {
		return true
	}
	if errors.Is(err, ErrBus) {
		return false
	}
	return errors.Is(err, ErrTimeout) || errors.Is(err, ErrChecksum) ||
		errors.Is(err, ErrFrame) || errors.Is(err, ErrNACK) || errors.Is(err, ErrApplication)
}
