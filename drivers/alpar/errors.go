package alpar

import (
	"errors"
	"fmt"

	"posd/conn/apdu"
)

// Errors returned by the driver. Callers test them with errors.Is.
var (
	// ErrTimeout means the reader did not answer within Opts.Timeout. It is
	// transient: the command may be retried.
	ErrTimeout = errors.New("alpar: response timeout")
	// ErrHalted is returned by a command that Halt interrupted. The Dev
	// stays usable: the next command runs normally.
	ErrHalted = errors.New("alpar: device halted")
	// ErrBus wraps a read or write failure of the serial line. A read
	// failure is final: every later command returns it.
	ErrBus = errors.New("alpar: serial bus error")
	// ErrAPDULength means an APDU shorter than 4 bytes or longer than
	// MaxPayload was given to Transmit.
	ErrAPDULength = errors.New("alpar: APDU length out of range")
	// ErrBadResponse means the reader answered with a well formed frame
	// whose content does not fit the command (wrong length, ...).
	ErrBadResponse = errors.New("alpar: unexpected response")
	// ErrBadATR means ParseATR was given bytes that are not an answer to
	// reset by ISO/IEC 7816-3 (bad TS, truncated, too long, bad TCK).
	ErrBadATR = errors.New("alpar: malformed answer to reset")

	// Frame decoding errors (DecodeFrame, FrameReader).

	// ErrShortFrame means more bytes are needed to complete the frame.
	ErrShortFrame = errors.New("alpar: incomplete frame")
	// ErrBadStart means the first byte is neither 60h nor E0h.
	ErrBadStart = errors.New("alpar: bad frame start byte")
	// ErrFrameTooLong means the length field exceeds MaxPayload.
	ErrFrameTooLong = errors.New("alpar: frame length exceeds 506")
	// ErrFrameLRC means the received LRC does not match the frame (host
	// side detection; the chip reports its own LRC failures as status F0h,
	// see ErrSerialLRC).
	ErrFrameLRC = errors.New("alpar: frame LRC mismatch")

	// Sentinels for the NACK status codes callers decide on. A *NackError
	// matches them with errors.Is.

	// ErrCardAbsent is status C0h: no card in the slot.
	ErrCardAbsent = errors.New("alpar: card absent")
	// ErrCardMute is status 80h (card mute after power on) or 22h (card
	// mute during a T=1 exchange).
	ErrCardMute = errors.New("alpar: card mute")
	// ErrCardTimeout is status 81h: the card exceeded its waiting time.
	ErrCardTimeout = errors.New("alpar: card waiting time exceeded")
	// ErrSerialLRC is status F0h: the chip received a frame with a bad LRC.
	ErrSerialLRC = errors.New("alpar: chip saw serial LRC error")
	// ErrSerialTimeout is status FFh: the chip timed out receiving a frame.
	ErrSerialTimeout = errors.New("alpar: chip saw serial timeout")
	// ErrUnknownCommand is status 55h.
	ErrUnknownCommand = errors.New("alpar: unknown command")
	// ErrATR groups the statuses the chip returns when it rejects the
	// card's answer to reset (88h..8Dh, 92h..98h, C3h, C4h, C6h, C7h).
	ErrATR = errors.New("alpar: answer to reset rejected")
	// ErrHardware groups the statuses of the coupler itself (A1h, E2h,
	// E3h, E4h, E9h): the card was deactivated for safety.
	ErrHardware = errors.New("alpar: reader hardware fault")
)

// NackError is a NACK frame from the chip: Cmd is the command it answers,
// Code the status byte. Its message uses the wording of AN10207's status
// table; it never contains card data.
type NackError struct {
	Cmd  byte
	Code byte
}

func (e *NackError) Error() string {
	return fmt.Sprintf("alpar: command %02Xh refused, status %02Xh: %s", e.Cmd, e.Code, StatusText(e.Code))
}

// Is maps status codes to the sentinels above. Status C0h (card absent)
// also matches apdu.ErrCardRemoved, as the APDU contract asks of a reader
// whose card left the slot.
func (e *NackError) Is(target error) bool {
	switch target {
	case ErrCardAbsent, apdu.ErrCardRemoved:
		return e.Code == 0xC0
	case ErrCardMute:
		return e.Code == 0x80 || e.Code == 0x22
	case ErrCardTimeout:
		return e.Code == 0x81
	case ErrSerialLRC:
		return e.Code == 0xF0
	case ErrSerialTimeout:
		return e.Code == 0xFF
	case ErrUnknownCommand:
		return e.Code == 0x55
	case ErrATR:
		switch e.Code {
		case 0x88, 0x89, 0x8A, 0x8B, 0x8C, 0x8D, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0xC3, 0xC4, 0xC6, 0xC7:
			return true
		}
	case ErrHardware:
		switch e.Code {
		case 0xA1, 0xE2, 0xE3, 0xE4, 0xE9:
			return true
		}
	}
	return false
}

// Status codes of AN10207 (status table of the ALPAR protocol section),
// carried as the single payload byte of a NACK frame.
const (
	StatusLenTooShort      = 0x08 // length of the data buffer too short
	StatusT1ThreeErrors    = 0x0A // 3 consecutive errors from the card in T=1
	StatusWrongAPDU        = 0x20
	StatusShortAPDU        = 0x21
	StatusCardMuteT1       = 0x22 // card mute now (during T=1 exchange)
	StatusBadNAD           = 0x24
	StatusBadLRC           = 0x25 // bad LRC in a T=1 block from the card
	StatusResynchronized   = 0x26
	StatusChainAborted     = 0x27
	StatusBadPCB           = 0x28
	StatusCardOverflow     = 0x29
	StatusNonNegotiable    = 0x30 // TA2 present
	StatusNotT0T1          = 0x31
	StatusT1NotAccepted    = 0x32
	StatusPPSDifferent     = 0x33
	StatusPCKError         = 0x34
	StatusBadParameter     = 0x35
	StatusTB3Absent        = 0x38
	StatusPPSNotAccepted   = 0x39
	StatusEarlyAnswer      = 0x3B
	StatusUnknownCommand   = 0x55
	StatusCardMute         = 0x80 // card mute after power on
	StatusCardTimeout      = 0x81 // waiting time exceeded
	StatusParityRx         = 0x83
	StatusParityTx         = 0x84
	StatusBadFiDi          = 0x86
	StatusATRTooLong       = 0x88
	StatusCWINotSupported  = 0x89
	StatusBWINotSupported  = 0x8A
	StatusWINotSupported   = 0x8B
	StatusTC3NotAccepted   = 0x8C
	StatusATRParity        = 0x8D
	StatusT1ThreeParity    = 0x90
	StatusSW1Invalid       = 0x91
	StatusTA2ModeByte      = 0x92
	StatusTB1Absent        = 0x93
	StatusTB1NotZero       = 0x94
	StatusIFSCInvalid      = 0x95
	StatusWrongTDi         = 0x96
	StatusTB2Present       = 0x97
	StatusTC1CWT           = 0x98
	StatusNotT1Card        = 0x9B
	StatusProcedureByte    = 0xA0
	StatusCardDeactivated  = 0xA1
	StatusCardAbsent       = 0xC0
	StatusChecksum         = 0xC3
	StatusTSInvalid        = 0xC4
	StatusATRNotSupported  = 0xC6
	StatusVPPNotSupported  = 0xC7
	StatusClockNotAccepted = 0xE1
	StatusUARTOverflow     = 0xE2
	StatusSupplyDrop       = 0xE3
	StatusTemperatureAlarm = 0xE4
	StatusFramingError     = 0xE9
	StatusSerialLRC        = 0xF0
	StatusSerialTimeout    = 0xFF
)

var statusText = map[byte]string{
	0x08: "length of the data buffer too short",
	0x0A: "3 consecutive errors from the card in T=1 protocol",
	0x20: "wrong APDU",
	0x21: "too short APDU",
	0x22: "card mute now (during T=1 exchange)",
	0x24: "bad NAD",
	0x25: "bad LRC",
	0x26: "resynchronized",
	0x27: "chain aborted",
	0x28: "bad PCB",
	0x29: "overflow from card",
	0x30: "non negotiable mode (TA2 present)",
	0x31: "protocol is neither T=0 nor T=1 (negotiate command)",
	0x32: "T=1 is not accepted (negotiate command)",
	0x33: "PPS answer is different from PPS request",
	0x34: "error on PCK (negotiate command)",
	0x35: "bad parameter in command",
	0x38: "TB3 absent",
	0x39: "PPS not accepted (no answer from card)",
	0x3B: "early answer of the card during the activation",
	0x55: "unknown command",
	0x80: "card mute (after power on)",
	0x81: "time out (waiting time exceeded)",
	0x83: "5 parity errors in reception",
	0x84: "5 parity errors in transmission",
	0x86: "bad FiDi",
	0x88: "ATR duration greater than 19200 etus (EMV)",
	0x89: "CWI not supported (EMV)",
	0x8A: "BWI not supported (EMV)",
	0x8B: "WI not supported (EMV)",
	0x8C: "TC3 not accepted (EMV)",
	0x8D: "parity error during ATR",
	0x90: "3 consecutive parity errors in T=1 protocol",
	0x91: "SW1 different from 6X or 9X",
	0x92: "specific mode byte TA2 with b5=1",
	0x93: "TB1 absent during a cold reset (EMV)",
	0x94: "TB1 different from 00 during a cold reset (EMV)",
	0x95: "IFSC<10h or IFSC=FFh",
	0x96: "wrong TDi",
	0x97: "TB2 is present in the ATR (EMV)",
	0x98: "TC1 is not compatible with CWT",
	0x9B: "not T=1 card",
	0xA0: "procedure byte error",
	0xA1: "card deactivated due to a hardware problem",
	0xC0: "card absent",
	0xC3: "checksum error",
	0xC4: "TS is neither 3B nor 3F",
	0xC6: "ATR not supported",
	0xC7: "VPP is not supported",
	0xE1: "card clock frequency not accepted",
	0xE2: "UART overflow",
	0xE3: "supply voltage drop-off",
	0xE4: "temperature alarm",
	0xE9: "framing error",
	0xF0: "serial LRC error",
	0xFF: "serial time out",
}

// StatusText returns AN10207's description of a NACK status code.
func StatusText(code byte) string {
	if s, ok := statusText[code]; ok {
		return s
	}
	return "unknown status"
}
