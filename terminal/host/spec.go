package host

// The ISO 8583:1987 message spec spoken between posd and the acquirer. The
// terminal client and the acquirer simulator both use this file, so the two
// sides cannot drift apart.
//
// Encoding: MTI and all n/an/ans fields are ASCII; the bitmap and the b
// fields are raw binary. Variable fields carry an ASCII length prefix (LL =
// two digits, LLL = three digits) that counts characters for text fields and
// bytes for binary fields.
//
// Data elements (M = mandatory in requests, C = conditional, R = response):
//
//	DE   format          use
//	0    n4              MTI: 0200/0210 purchase, 0400/0410 reversal, 0800/0810 network management
//	1    b64 (+b64)      bitmap; the secondary bitmap appears when a field above 64 is present
//	3    n6 fixed        processing code, "000000" goods and services
//	4    n12 fixed       amount in minor units, zero padded
//	7    n10 fixed       transmission date and time MMDDhhmmss, UTC
//	11   n6 fixed        STAN
//	12   n6 fixed        local transaction time hhmmss
//	13   n4 fixed        local transaction date MMDD
//	22   n3 fixed        POS entry mode
//	25   n2 fixed        POS condition code, "00" normal presentment
//	37   an12 fixed      retrieval reference number (R, approvals)
//	38   an6 fixed       authorization code (R, approvals)
//	39   an2 fixed       response code (R); in a 0400 request it is absent
//	41   ans8 fixed      terminal id (card acceptor terminal identification)
//	42   ans15 fixed     merchant id (card acceptor identification code)
//	49   n3 fixed        currency code, ISO 4217 numeric
//	52   b..16 LLVAR     PIN block, encrypted: 8 bytes ISO 9564 format 0 under
//	                     TDES DUKPT, 16 bytes format 4 under AES DUKPT. (1987
//	                     defines b64 fixed; the variable length carries the AES
//	                     block.)
//	53   b..12 LLVAR     DUKPT KSN of the transaction keys: 10 bytes TDES, 12 bytes AES
//	55   b..255 LLLVAR   ICC (EMV) data, BER-TLV
//	60   ans..60 LLLVAR  private: reversal reason text (0400 only)
//	62   b..64 LLLVAR    private: track 2 equivalent data, encrypted (see
//	                     terminal/wiresec); the clear track never travels
//	64   b64 fixed       MAC when the message has only the primary bitmap
//	70   n3 fixed        network management code: 001 sign-on, 002 sign-off, 301 echo
//	90   n42 fixed       original data elements of a reversal: original MTI
//	                     (4) + original STAN (6) + original DE7 (10) +
//	                     acquiring institution id (11, zeros) + forwarding
//	                     institution id (11, zeros)
//	128  b64 fixed       MAC when the message has a secondary bitmap
//
// DE2 (PAN), DE35 (track 2) and DE45 (track 1) are deliberately not defined:
// a message carrying any of them fails to unpack, and none can be packed.
//
// MAC: the MAC is always the last field of the message: DE64 when only the
// primary bitmap is present, DE128 when the secondary bitmap is present
// (sign-on and echo are not MACed; 0200/0210 use DE64; 0400/0410 use DE128
// because DE90 forces the secondary bitmap). The MACed bytes are the packed
// ISO message exactly as sent, from the first MTI byte up to and excluding
// the 8 MAC bytes: MTI, bitmap(s) with the MAC bit already set, and every
// field before the MAC. The 2-byte length header and the TPDU are not MACed.
// The sender packs the message with 8 zero bytes in the MAC field, computes
// the MAC over all but the last 8 bytes and replaces them.
//
// Framing: every message is preceded by a 2-byte big-endian length header
// counting every byte after it (the TPDU, when configured, and the ISO
// message). The optional TPDU is 5 bytes: 0x60, 2-byte destination address,
// 2-byte source address. Responses carry the request's TPDU with destination
// and source swapped.

import (
	"github.com/moov-io/iso8583"
	"github.com/moov-io/iso8583/encoding"
	"github.com/moov-io/iso8583/field"
	"github.com/moov-io/iso8583/prefix"
)

// Data element numbers used by posd and the acquirer.
const (
	DEMTI            = 0
	DEBitmap         = 1
	DEProcessingCode = 3
	DEAmount         = 4
	DETransmission   = 7
	DESTAN           = 11
	DELocalTime      = 12
	DELocalDate      = 13
	DEEntryMode      = 22
	DECondition      = 25
	DERRN            = 37
	DEAuthCode       = 38
	DEResponseCode   = 39
	DETerminalID     = 41
	DEMerchantID     = 42
	DECurrency       = 49
	DEPINBlock       = 52
	DEKSN            = 53
	DEICC            = 55
	DEReversalReason = 60
	DETrack2Enc      = 62
	DEMAC            = 64
	DENetworkCode    = 70
	DEOriginalData   = 90
	DEMAC2           = 128
)

// Network management codes (DE70).
const (
	NetSignOn  = "001"
	NetSignOff = "002"
	NetEcho    = "301"
)

// Message type indicators.
const (
	MTIPurchase         = "0200"
	MTIPurchaseResponse = "0210"
	MTIReversal         = "0400"
	MTIReversalResponse = "0410"
	MTINetwork          = "0800"
	MTINetworkResponse  = "0810"
)

// Field sizes.
const (
	MACLen       = 8
	TPDULen      = 5
	TPDUID       = 0x60
	MaxTrack2Enc = 64
	MaxICC       = 255
	MaxPINBlock  = 16
	MaxKSN       = 12
	MaxReason    = 60
)

func fixedText(n int, desc string) field.Field {
	return field.NewString(&field.Spec{Length: n, Description: desc, Enc: encoding.ASCII, Pref: prefix.ASCII.Fixed})
}

func fixedBinary(n int, desc string) field.Field {
	return field.NewBinary(&field.Spec{Length: n, Description: desc, Enc: encoding.Binary, Pref: prefix.Binary.Fixed})
}

// Spec is the message spec of the posd acquirer link.
var Spec = &iso8583.MessageSpec{
	Name: "posd ISO 8583:1987 acquirer link",
	Fields: map[int]field.Field{
		DEMTI:            fixedText(4, "Message Type Indicator"),
		DEBitmap:         field.NewBitmap(&field.Spec{Length: 8, Description: "Bitmap", Enc: encoding.Binary, Pref: prefix.Binary.Fixed}),
		DEProcessingCode: fixedText(6, "Processing Code"),
		DEAmount:         fixedText(12, "Transaction Amount"),
		DETransmission:   fixedText(10, "Transmission Date & Time"),
		DESTAN:           fixedText(6, "Systems Trace Audit Number"),
		DELocalTime:      fixedText(6, "Local Transaction Time"),
		DELocalDate:      fixedText(4, "Local Transaction Date"),
		DEEntryMode:      fixedText(3, "POS Entry Mode"),
		DECondition:      fixedText(2, "POS Condition Code"),
		DERRN:            fixedText(12, "Retrieval Reference Number"),
		DEAuthCode:       fixedText(6, "Authorization Identification Response"),
		DEResponseCode:   fixedText(2, "Response Code"),
		DETerminalID:     fixedText(8, "Card Acceptor Terminal Identification"),
		DEMerchantID:     fixedText(15, "Card Acceptor Identification Code"),
		DECurrency:       fixedText(3, "Currency Code, Transaction"),
		DEPINBlock: field.NewBinary(&field.Spec{
			Length: MaxPINBlock, Description: "PIN Data (encrypted)", Enc: encoding.Binary, Pref: prefix.ASCII.LL,
		}),
		DEKSN: field.NewBinary(&field.Spec{
			Length: MaxKSN, Description: "Security Related Control Information (DUKPT KSN)", Enc: encoding.Binary, Pref: prefix.ASCII.LL,
		}),
		DEICC: field.NewBinary(&field.Spec{
			Length: MaxICC, Description: "ICC Data", Enc: encoding.Binary, Pref: prefix.ASCII.LLL,
		}),
		DEReversalReason: field.NewString(&field.Spec{
			Length: MaxReason, Description: "Private: Reversal Reason", Enc: encoding.ASCII, Pref: prefix.ASCII.LLL,
		}),
		DETrack2Enc: field.NewBinary(&field.Spec{
			Length: MaxTrack2Enc, Description: "Private: Encrypted Track 2 Data", Enc: encoding.Binary, Pref: prefix.ASCII.LLL,
		}),
		DEMAC:          fixedBinary(MACLen, "Message Authentication Code"),
		DENetworkCode:  fixedText(3, "Network Management Information Code"),
		DEOriginalData: fixedText(42, "Original Data Elements"),
		DEMAC2:         fixedBinary(MACLen, "Message Authentication Code (secondary)"),
	},
}
