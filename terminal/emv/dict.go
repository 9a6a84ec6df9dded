package emv

import (
	"fmt"
	"log/slog"
	"strings"
)

// format is a data element's format (book 3 section 4.3).
type format uint8

const (
	fmtB   format = iota // binary
	fmtN                 // numeric, BCD, right justified, leading zeros
	fmtCN                // compressed numeric, BCD, left justified, F padded
	fmtAN                // alphanumeric
	fmtANS               // alphanumeric special
)

// source is who provides a data element.
type source uint8

const (
	srcICC source = iota
	srcTerminal
	srcIssuer
)

// element is one entry of the data dictionary.
type element struct {
	name   string
	format format
	source source
	// sensitive elements never reach a log or an error: PANs, tracks,
	// cardholder names, expiry dates, PIN data.
	sensitive bool
}

// dictionary is the data dictionary of the tags the kernel reads or
// builds (book 3 annex A, Book C-2/C-3, PBOC 3.0).
var dictionary = map[tag]element{
	0x42:            {"Issuer Identification Number", fmtN, srcICC, false},
	0x4F:            {"Application Identifier (ADF Name)", fmtB, srcICC, false},
	0x50:            {"Application Label", fmtANS, srcICC, false},
	0x56:            {"Track 1 Data", fmtANS, srcICC, true},
	0x57:            {"Track 2 Equivalent Data", fmtB, srcICC, true},
	0x5A:            {"Application PAN", fmtCN, srcICC, true},
	0x5F20:          {"Cardholder Name", fmtANS, srcICC, true},
	0x5F24:          {"Application Expiration Date", fmtN, srcICC, true},
	0x5F25:          {"Application Effective Date", fmtN, srcICC, false},
	0x5F28:          {"Issuer Country Code", fmtN, srcICC, false},
	0x5F2A:          {"Transaction Currency Code", fmtN, srcTerminal, false},
	0x5F2D:          {"Language Preference", fmtAN, srcICC, false},
	0x5F30:          {"Service Code", fmtN, srcICC, false},
	0x5F34:          {"Application PAN Sequence Number", fmtN, srcICC, false},
	0x5F36:          {"Transaction Currency Exponent", fmtN, srcTerminal, false},
	0x81:            {"Amount, Authorised (Binary)", fmtB, srcTerminal, false},
	0x82:            {"Application Interchange Profile", fmtB, srcICC, false},
	0x84:            {"Dedicated File Name", fmtB, srcICC, false},
	0x87:            {"Application Priority Indicator", fmtB, srcICC, false},
	0x88:            {"Short File Identifier", fmtB, srcICC, false},
	0x8A:            {"Authorisation Response Code", fmtAN, srcIssuer, false},
	0x8C:            {"CDOL1", fmtB, srcICC, false},
	0x8D:            {"CDOL2", fmtB, srcICC, false},
	0x8E:            {"CVM List", fmtB, srcICC, false},
	0x8F:            {"CA Public Key Index", fmtB, srcICC, false},
	0x90:            {"Issuer Public Key Certificate", fmtB, srcICC, false},
	0x91:            {"Issuer Authentication Data", fmtB, srcIssuer, false},
	0x92:            {"Issuer Public Key Remainder", fmtB, srcICC, false},
	0x93:            {"Signed Static Application Data", fmtB, srcICC, false},
	0x94:            {"Application File Locator", fmtB, srcICC, false},
	0x95:            {"Terminal Verification Results", fmtB, srcTerminal, false},
	0x97:            {"TDOL", fmtB, srcICC, false},
	0x98:            {"TC Hash Value", fmtB, srcTerminal, false},
	0x99:            {"Transaction PIN Data", fmtB, srcTerminal, true},
	0x9A:            {"Transaction Date", fmtN, srcTerminal, false},
	0x9B:            {"Transaction Status Information", fmtB, srcTerminal, false},
	0x9C:            {"Transaction Type", fmtN, srcTerminal, false},
	0x9D:            {"DDF Name", fmtB, srcICC, false},
	0x9F01:          {"Acquirer Identifier", fmtN, srcTerminal, false},
	0x9F02:          {"Amount, Authorised (Numeric)", fmtN, srcTerminal, false},
	0x9F03:          {"Amount, Other (Numeric)", fmtN, srcTerminal, false},
	0x9F04:          {"Amount, Other (Binary)", fmtB, srcTerminal, false},
	0x9F05:          {"Application Discretionary Data", fmtB, srcICC, false},
	0x9F06:          {"AID (terminal)", fmtB, srcTerminal, false},
	0x9F07:          {"Application Usage Control", fmtB, srcICC, false},
	0x9F08:          {"Application Version Number (card)", fmtB, srcICC, false},
	0x9F09:          {"Application Version Number (terminal)", fmtB, srcTerminal, false},
	0x9F0B:          {"Cardholder Name Extended", fmtANS, srcICC, true},
	0x9F0D:          {"IAC Default", fmtB, srcICC, false},
	0x9F0E:          {"IAC Denial", fmtB, srcICC, false},
	0x9F0F:          {"IAC Online", fmtB, srcICC, false},
	0x9F10:          {"Issuer Application Data", fmtB, srcICC, false},
	0x9F11:          {"Issuer Code Table Index", fmtN, srcICC, false},
	0x9F12:          {"Application Preferred Name", fmtANS, srcICC, false},
	0x9F13:          {"Last Online ATC Register", fmtB, srcICC, false},
	0x9F14:          {"Lower Consecutive Offline Limit", fmtB, srcICC, false},
	0x9F15:          {"Merchant Category Code", fmtN, srcTerminal, false},
	0x9F16:          {"Merchant Identifier", fmtANS, srcTerminal, false},
	0x9F17:          {"PIN Try Counter", fmtB, srcICC, false},
	0x9F18:          {"Issuer Script Identifier", fmtB, srcIssuer, false},
	0x9F1A:          {"Terminal Country Code", fmtN, srcTerminal, false},
	0x9F1B:          {"Terminal Floor Limit", fmtB, srcTerminal, false},
	0x9F1C:          {"Terminal Identification", fmtAN, srcTerminal, false},
	0x9F1D:          {"Terminal Risk Management Data", fmtB, srcTerminal, false},
	0x9F1E:          {"IFD Serial Number", fmtAN, srcTerminal, false},
	0x9F1F:          {"Track 1 Discretionary Data", fmtANS, srcICC, true},
	0x9F20:          {"Track 2 Discretionary Data", fmtCN, srcICC, true},
	0x9F21:          {"Transaction Time", fmtN, srcTerminal, false},
	0x9F23:          {"Upper Consecutive Offline Limit", fmtB, srcICC, false},
	0x9F26:          {"Application Cryptogram", fmtB, srcICC, false},
	0x9F27:          {"Cryptogram Information Data", fmtB, srcICC, false},
	0x9F29:          {"Extended Selection", fmtB, srcICC, false},
	0x9F2A:          {"Kernel Identifier", fmtB, srcICC, false},
	0x9F2D:          {"ICC PIN Encipherment Public Key Certificate", fmtB, srcICC, false},
	0x9F2E:          {"ICC PIN Encipherment Public Key Exponent", fmtB, srcICC, false},
	0x9F2F:          {"ICC PIN Encipherment Public Key Remainder", fmtB, srcICC, false},
	0x9F32:          {"Issuer Public Key Exponent", fmtB, srcICC, false},
	0x9F33:          {"Terminal Capabilities", fmtB, srcTerminal, false},
	0x9F34:          {"CVM Results", fmtB, srcTerminal, false},
	0x9F35:          {"Terminal Type", fmtN, srcTerminal, false},
	0x9F36:          {"Application Transaction Counter", fmtB, srcICC, false},
	0x9F37:          {"Unpredictable Number", fmtB, srcTerminal, false},
	0x9F38:          {"PDOL", fmtB, srcICC, false},
	0x9F39:          {"POS Entry Mode", fmtN, srcTerminal, false},
	0x9F40:          {"Additional Terminal Capabilities", fmtB, srcTerminal, false},
	0x9F41:          {"Transaction Sequence Counter", fmtN, srcTerminal, false},
	0x9F42:          {"Application Currency Code", fmtN, srcICC, false},
	0x9F44:          {"Application Currency Exponent", fmtN, srcICC, false},
	0x9F45:          {"Data Authentication Code", fmtB, srcICC, false},
	0x9F46:          {"ICC Public Key Certificate", fmtB, srcICC, false},
	0x9F47:          {"ICC Public Key Exponent", fmtB, srcICC, false},
	0x9F48:          {"ICC Public Key Remainder", fmtB, srcICC, false},
	0x9F49:          {"DDOL", fmtB, srcICC, false},
	0x9F4A:          {"Static Data Authentication Tag List", fmtB, srcICC, false},
	0x9F4B:          {"Signed Dynamic Application Data", fmtB, srcICC, false},
	0x9F4C:          {"ICC Dynamic Number", fmtB, srcICC, false},
	0x9F4D:          {"Log Entry", fmtB, srcICC, false},
	0x9F4E:          {"Merchant Name and Location", fmtANS, srcTerminal, false},
	0x9F53:          {"Transaction Category Code", fmtAN, srcTerminal, false},
	0x9F5B:          {"Issuer Script Results", fmtB, srcTerminal, false},
	0x9F5D:          {"Available Offline Spending Amount", fmtN, srcICC, false},
	0x9F66:          {"Terminal Transaction Qualifiers", fmtB, srcTerminal, false},
	0x9F69:          {"Card Authentication Related Data", fmtB, srcICC, false},
	0x9F6A:          {"Unpredictable Number (Numeric)", fmtN, srcTerminal, false},
	0x9F6B:          {"Track 2 Data (Mastercard)", fmtB, srcICC, true},
	0x9F6C:          {"Card Transaction Qualifiers", fmtB, srcICC, false},
	0x9F6E:          {"Form Factor Indicator / Third Party Data", fmtB, srcICC, false},
	0x9F7C:          {"Customer Exclusive Data", fmtB, srcICC, false},
	0xDF4B:          {"POS Cardholder Interaction Information", fmtB, srcICC, false},
	0xDF8120:        {"TAC Default", fmtB, srcTerminal, false},
	0xDF8121:        {"TAC Denial", fmtB, srcTerminal, false},
	0xDF8122:        {"TAC Online", fmtB, srcTerminal, false},
	0xDF8123:        {"Reader Contactless Floor Limit", fmtN, srcTerminal, false},
	0xDF8124:        {"Reader Contactless Transaction Limit (no on-device CVM)", fmtN, srcTerminal, false},
	0xDF8125:        {"Reader Contactless Transaction Limit (on-device CVM)", fmtN, srcTerminal, false},
	0xDF8126:        {"Reader CVM Required Limit", fmtN, srcTerminal, false},
	tagRandomDraw:   {"posd: random transaction selection draw", fmtB, srcTerminal, false},
	tagHostDecision: {"posd: host decision", fmtB, srcTerminal, false},
}

// posd's proprietary tags in trace files (see the README).
const (
	tagRandomDraw   tag = 0xDFE001 // the random selection draw, 1 byte 1-99
	tagHostDecision tag = 0xDFE002 // 00 no response, 01 approved, 02 declined
)

// internalTag reports whether t is one of posd's proprietary tags, which
// hold the kernel's own state in trace files and are no EMV data.
func internalTag(t tag) bool {
	return t == tagRandomDraw || t == tagHostDecision || t == tagTxnFlags
}

// sensitive reports whether a tag's value must never be logged. Unknown
// tags count as sensitive: only what the dictionary vouches for is shown.
func sensitive(t tag) bool {
	e, ok := dictionary[t]
	return !ok || e.sensitive
}

// logValue renders a data object for a log line: the value in hex for
// known non-sensitive tags, otherwise only its length.
func logValue(t tag, v []byte) string {
	if sensitive(t) {
		return fmt.Sprintf("<%d bytes>", len(v))
	}
	return fmt.Sprintf("%X", v)
}

// logObjects is a slog attribute listing the primitive objects of a
// response with logValue.
func logObjects(key string, objs []tlvObject) slog.Attr {
	var sb strings.Builder
	var walk func([]tlvObject)
	walk = func(os []tlvObject) {
		for _, o := range os {
			if o.tag.constructed() {
				walk(o.children)
				continue
			}
			if sb.Len() > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(o.tag.String())
			sb.WriteByte('=')
			sb.WriteString(logValue(o.tag, o.value))
		}
	}
	walk(objs)
	return slog.String(key, sb.String())
}
