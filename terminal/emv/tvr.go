package emv

import (
	"encoding/hex"
	"strings"
)

// bit is one bit of the TVR or TSI: the byte index (0-based) in the high
// byte and the mask in the low byte.
type bit uint16

// Terminal verification results (95), book 3 annex C5.
const (
	tvrODANotPerformed    bit = 0x0080 // offline data authentication was not performed
	tvrSDAFailed          bit = 0x0040 // SDA failed
	tvrICCDataMissing     bit = 0x0020 // ICC data missing
	tvrExceptionFile      bit = 0x0010 // card appears on terminal exception file
	tvrDDAFailed          bit = 0x0008 // DDA failed
	tvrCDAFailed          bit = 0x0004 // CDA failed
	tvrSDASelected        bit = 0x0002 // SDA selected
	tvrVersionsDiffer     bit = 0x0180 // ICC and terminal have different application versions
	tvrExpired            bit = 0x0140 // expired application
	tvrNotYetEffective    bit = 0x0120 // application not yet effective
	tvrServiceNotAllowed  bit = 0x0110 // requested service not allowed for card product
	tvrNewCard            bit = 0x0108 // new card
	tvrCVMFailed          bit = 0x0280 // cardholder verification was not successful
	tvrUnrecognisedCVM    bit = 0x0240 // unrecognised CVM
	tvrPINTryLimit        bit = 0x0220 // PIN try limit exceeded
	tvrNoPINPad           bit = 0x0210 // PIN entry required and PIN pad not present or not working
	tvrPINNotEntered      bit = 0x0208 // PIN entry required, PIN pad present, but PIN was not entered
	tvrOnlinePINEntered   bit = 0x0204 // online PIN entered
	tvrFloorLimit         bit = 0x0380 // transaction exceeds floor limit
	tvrLCOLExceeded       bit = 0x0340 // lower consecutive offline limit exceeded
	tvrUCOLExceeded       bit = 0x0320 // upper consecutive offline limit exceeded
	tvrRandomSelected     bit = 0x0310 // transaction selected randomly for online processing
	tvrMerchantForced     bit = 0x0308 // merchant forced transaction online
	tvrDefaultTDOL        bit = 0x0480 // default TDOL used
	tvrIssuerAuthFailed   bit = 0x0440 // issuer authentication failed
	tvrScriptFailedBefore bit = 0x0420 // script processing failed before final GENERATE AC
	tvrScriptFailedAfter  bit = 0x0410 // script processing failed after final GENERATE AC
)

// Transaction status information (9B), book 3 annex C6.
const (
	tsiODA          bit = 0x0080 // offline data authentication was performed
	tsiCVM          bit = 0x0040 // cardholder verification was performed
	tsiCardRisk     bit = 0x0020 // card risk management was performed
	tsiIssuerAuth   bit = 0x0010 // issuer authentication was performed
	tsiTerminalRisk bit = 0x0008 // terminal risk management was performed
	tsiScript       bit = 0x0004 // script processing was performed
)

// TVR is the terminal verification results.
type TVR [5]byte

// TSI is the transaction status information.
type TSI [2]byte

func (v *TVR) set(b bit)      { v[b>>8] |= byte(b) }
func (v *TVR) has(b bit) bool { return v[b>>8]&byte(b) != 0 }
func (v *TSI) set(b bit)      { v[b>>8] |= byte(b) }

// String returns the TVR in upper-case hex.
func (v TVR) String() string { return strings.ToUpper(hex.EncodeToString(v[:])) }

// String returns the TSI in upper-case hex.
func (v TSI) String() string { return strings.ToUpper(hex.EncodeToString(v[:])) }

// anyOf reports whether the TVR shares a bit with an action code.
func (v TVR) anyOf(code []byte) bool {
	for i := 0; i < 5 && i < len(code); i++ {
		if v[i]&code[i] != 0 {
			return true
		}
	}
	return false
}
