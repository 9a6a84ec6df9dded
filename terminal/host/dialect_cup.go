package host

import (
	"fmt"
	"strings"

	"github.com/moov-io/iso8583"
	"github.com/moov-io/iso8583/encoding"
	"github.com/moov-io/iso8583/field"
	"github.com/moov-io/iso8583/prefix"

	"posd/terminal/wiresec"
)

// CUP ("cup") is a China UnionPay-style POS dialect: ISO 8583:1987 with
// packed BCD numbers, a TPDU and a 6-byte message header, the CUP layout of
// DE53 and DE60, and reversals that resend the original with a reason code
// in DE39. posd keeps its own security (DUKPT keys, the MACs and the data
// encryption of terminal/wiresec) and never sends clear card data, so a few
// fields are posd's own; they are marked "posd" below.
//
// Encoding: n fields are packed BCD, two digits a byte, right-aligned with
// a leading zero nibble when the count is odd, except where marked
// "left-aligned" (a trailing zero nibble); the MTI too is BCD (2 bytes).
// an/ans fields are ASCII, space-padded on the right. b fields are raw.
// Variable fields carry a BCD length prefix: LL is 1 byte, LLL is 2 bytes
// (right-aligned, "011" is 00 11); it counts digits for n fields and bytes
// for b fields.
//
// Data elements (R = response only):
//
//	DE   format           use
//	0    n4 BCD           MTI: 0200/0210 purchase, void, completion and balance
//	                      inquiry, 0220/0230 advice (an offline approval
//	                      forwarded: CUP's offline settlement) and refund,
//	                      0100/0110 pre-authorization and its void, 0400/0410 reversal,
//	                      0500/0510 settlement, 0320/0330 batch upload (and its
//	                      end), 0800/0810 sign-on, 0820/0830 echo test and sign-off
//	1    b64              bitmap, primary only (no field above 64)
//	3    n6               processing code: "000000" purchase, advice and
//	                      completion, "200000" refund and void (also of a
//	                      pre-authorization), "030000"
//	                      pre-authorization, "310000" balance inquiry, "220000"
//	                      void of a refund (posd); in a 0400 and a 0320 the
//	                      original's; absent from a settlement
//	4    n12              amount in minor units (absent from a balance inquiry
//	                      and a settlement; a void's is the original's, a
//	                      completion's the final amount)
//	11   n6               STAN; in a 0400 the STAN of the original; in a 0220 the
//	                      advice's own, the same for every attempt
//	12   n6               local time hhmmss (R)
//	13   n4               local date MMDD (R)
//	22   n3 left-aligned  POS entry mode ("021" is 02 10); in a 0400, a void, a
//	                      completion and a 0320 the original's
//	25   n2               POS condition code, "00"; "06" pre-authorization, its
//	                      void, its completion and the void of a completion
//	37   an12             in a 0210/0230/0110 (R, approvals) retrieval reference number; in
//	                      a 0220 advice the terminal's reference of the transaction
//	                      (Request.Ref, 1 to 12 digits or letters), space-padded
//	                      on the right, echoed in the 0230: the host
//	                      deduplicates advices by DE41 + DE37; in a void, a
//	                      completion, a refund naming its sale and a 0320 (C) the
//	                      original's RRN, space-padded
//	38   an6              authorization code (R, approvals); in a void, a refund
//	                      naming its sale and a 0320 (C), and a completion (M),
//	                      the original's, space-padded
//	39   an2              response code (R); in a 0400 the reversal reason:
//	                      "98" no response within the time limit, "A0" the
//	                      response MAC failed, "06" any other reason; in a 0220
//	                      the terminal's decision, "Y1" offline approved (posd).
//	                      An advice is answered "00" (the host has it, also when
//	                      it is a repeat) or "91" (busy: try later). In a 0510
//	                      "00" (or absent) means processed: DE48's reconciliation
//	                      code then says balanced or not (see below)
//	41   ans8             terminal id
//	42   ans15            merchant id
//	48   n..322 LLLVAR    additional data, left-aligned: in a 0500/0510 the
//	                      totals, 62 digits: domestic cards debits amount n12,
//	                      debits count n3, credits amount n12, credits count n3,
//	                      reconciliation code n1 ("0" in the 0500; in the 0510
//	                      "1" balanced, "2" out of balance, "3" reconcile
//	                      error), then the same 31 digits for foreign cards
//	                      (posd: always zeros, its totals are the domestic
//	                      group's); in the 0320 that ends a batch upload (and its
//	                      0330) n4, the number of transactions uploaded
//	49   an3              currency code, ISO 4217 numeric ("156"; in a 0500 the totals')
//	52   b..16 LLVAR      PIN block (0200, optional: online PIN; never in a 0220), encrypted under
//	                      the PIN key of the KSN in DE57 (the transaction key that
//	                      also gives the MAC and data keys): 8 bytes format 0
//	                      under the TDES DUKPT PIN variant, 16 bytes format 4
//	                      under the AES DUKPT PIN encryption key; 53.1 states
//	                      which (posd: CUP has b64 fixed; the variable length
//	                      carries the 16-byte AES block)
//	53   n16              security control information: 53.1 PIN block format
//	                      ("1" ISO 9564 format 0, i.e. ANSI X9.8 with PAN, under
//	                      TDES; "4" ISO 9564 format 4 under AES, posd), 53.2
//	                      algorithm ("6" double-length TDES; "8" AES-128, posd),
//	                      53.3 track data encrypted ("1") or absent ("0"), then
//	                      13 zeros (every MACed request)
//	54   an..120 LLLVAR   additional amounts (R, a balance inquiry's 0210): 20
//	                      characters an entry: account type n2, amount type n2
//	                      ("02" available balance, the one read), currency n3,
//	                      "C" or "D" (negative), amount n12
//	55   b..255 LLLVAR    ICC (EMV) data, BER-TLV (see ParseICC): in a 0200
//	                      (and a 0400 that resends it) the data of the ARQC, in a
//	                      0220 that of the card's TC, never clear card data
//	                      (ClearCardTags); in a 0210 (R,
//	                      optional) 91 issuer authentication data and 71/72
//	                      issuer scripts (ParseIssuerData); the ARC for the card
//	                      (8A) is DE39 as two ASCII characters
//	57   b..12 LLLVAR     posd: DUKPT KSN of the message's keys
//	60   n..017 LLLVAR    reserved, left-aligned: 60.1 n2 transaction type
//	                      ("01" balance inquiry, "10" pre-authorization, "11"
//	                      void of a pre-authorization, "20"
//	                      completion, "21" void of a completion, "22" purchase,
//	                      "23" void, "25" refund, "30" offline settlement: the
//	                      advice, "00" network management and settlement; in a
//	                      0400 and (posd) a 0320 the original's), 60.2 n6
//	                      batch number, 60.3 n3 network management code
//	                      ("000" financial, "003" sign-on, "002" sign-off,
//	                      "301" echo test, "201" settlement and batch upload,
//	                      "202" end of a batch upload after an out-of-balance
//	                      answer)
//	61   n..029 LLLVAR    original message, left-aligned (0400, void, completion,
//	                      refund naming its sale, 0320): 61.1 original batch n6,
//	                      61.2 original STAN n6, 61.3 original date MMDD n4
//	                      ("0000" unknown); in a refund (posd) 61.4 n2 the
//	                      original's 60.1 ("22" sale, "20" completion)
//	62   b..64 LLLVAR     posd: in a 0200 and a 0220 the encrypted track 2 (the clear track
//	                      never travels); in a 0400 the KSN of the original, the
//	                      reference to the card data the host received with it;
//	                      in any response (R, optional) the host's notices, e.g.
//	                      DF01 01 01 "an update waits at the TMS" (notice.go)
//	63   ans..12 LLLVAR   posd: the terminal's reference of an uploaded
//	                      transaction (0320, echoed in the 0330; UploadItem.Ref,
//	                      no padding)
//	64   b64              MAC (financial messages, settlements and batch
//	                      uploads; network management is not MACed)
//
// DE2, DE35, DE36 and DE45 (PAN and tracks) are deliberately not defined.
// The MAC covers the ISO message from the MTI to the byte before the MAC,
// as in ASCII87, computed by terminal/wiresec (not CUP's own algorithm).
//
// Framing: a 2-byte big-endian length header counting what follows, the
// TPDU (always; 0x60, 2-byte destination, 2-byte source, default
// 60 0001 0000; responses swap the addresses), then the 6-byte message
// header 60 31 00 00 00 00: application type 0x60 (financial POS
// application), software version 0x31, terminal status and processing
// requirement 0x00, software sub-version 00 00 00. The host answers with
// the same application type; the rest of its header is not interpreted.
//
// What the host expects of a reversal: the 0400 is the original resent:
// DE11 is the original's STAN, DE3, DE4, DE22, DE25, DE49 and DE60 are the
// original's, DE39 says why (98, A0, 06) and DE61 names the original once
// more (batch, STAN, date). Every further attempt is the same 0400 again,
// with the same DE11 and DE39 (CUP has no repeat MTI); the host recognises
// a repeat by the original it names and must not undo the original twice.
// Only the DUKPT KSN (DE57) and the MAC differ between attempts: a DUKPT
// key serves one message. Track and PIN data are never resent.
//
// Kinds: what each request is on the wire, and what tells it apart when
// read (the MTI and 60.1, for a 0320 60.3; a void of a refund by DE3):
//
//	kind                MTI   DE3     DE25  60.1  60.3  original
//	purchase            0200  000000  00    22    000   -
//	balance inquiry     0200  310000  00    01    000   -
//	void                0200  200000  00    23    000   DE37, DE38, DE61
//	void of completion  0200  200000  06    21    000   DE37, DE38, DE61
//	void of a refund    0200  220000  00    23    000   DE37, DE38, DE61 (posd)
//	void of a pre-      0100  200000  06    11    000   DE37, DE38, DE61
//	  authorization
//	completion          0200  000000  06    20    000   DE37, DE38 (M), DE61
//	pre-authorization   0100  030000  06    10    000   -
//	refund              0220  200000  00    25    000   optional DE37, DE38, DE61
//	advice              0220  000000  00    30    000   -
//	reversal            0400  the original's DE3, DE25 and 60.1
//	settlement          0500  -       -     00    201   - (totals in DE48)
//	settlement after    0320  -       -     00    202   - (upload count in DE48)
//	  a batch upload
//	batch upload        0320  the original's DE3, DE25 and 60.1 (posd), 60.3 201
//
// A refund, a pre-authorization and a balance inquiry carry the card like
// a purchase (DE22, DE52, DE53, DE55, DE57, DE62). A void and a
// completion read no card: DE4, DE22, DE37/DE38/DE61 of the original,
// DE53 (no track), the KSN in DE57 and the MAC; so does a batch upload,
// with DE63. A settlement carries DE11, DE41, DE42, DE48, DE49, DE53,
// DE57, DE60 and the MAC, and is answered with DE39 and DE48 echoing the
// totals with the reconciliation code: posd reads DE39 "00" (or absent)
// with code "1" as SettlementBalanced ("00") and with "2" or "3" as
// SettlementOutOfBalance ("95"); any other DE39 is the answer as it is.
// Out of balance, the terminal uploads the batch (one 0320 per
// transaction, 60.3 "201", no card data: CUP's own upload carries card
// numbers in DE48, posd never does) and then settles again with
// AfterUpload: CUP ends an upload with a 0320 of 60.3 "202" whose DE48 is
// the number of transactions uploaded (Request.UploadCount); its totals
// do not travel. That 0330's DE39 "00" is SettlementBalanced. Counts are
// at most 3 digits, amounts 12 (CUP's DE48); more is ErrInvalidRequest:
// a batch holds at most 999 debits and 999 credits (BatchLimit), and the
// terminal settles before it takes more.
// Every field a request of a kind may carry is listed above; a request
// carrying another (a PIN block or a track in a void, say) does not
// decode. A reversal names its original's kind by 60.1, with its DE3 and
// DE25 (a reversal whose DE3 or DE25 is not its original's does not
// decode). The reversal of a void resends that void's codes, which say
// what it voided: 60.1 "23" with DE3 "200000" (a sale) or "220000" (a
// refund), "21" with DE25 "06" (a completion), "11" with DE25 "06" (a
// pre-authorization, 预授权撤销冲正); Request.VoidedKind.
//
// An advice (0220, 60.1 "30") carries the fields of the purchase the card
// approved offline (DE3 "000000", DE4, DE22, DE25, DE41/42/49, DE53, its
// own KSN in DE57, DE55, DE60 with the batch, the encrypted track in DE62)
// without a PIN block, plus DE37 and DE39. Every attempt is the same 0220
// with the same DE11 and DE37; only the KSN and the MAC differ. The 0230
// echoes DE3, DE4, DE11, DE25, DE37, DE41, DE42, DE49 and DE60 and
// carries DE12, DE13 and DE39.
var CUP = register(&Dialect{
	Name: "cup",
	Spec: cupSpec,
	Framing: Framing{
		TPDURequired: true,
		DefaultTPDU:  []byte{0x60, 0x00, 0x01, 0x00, 0x00},
		Header:       []byte{0x60, 0x31, 0x00, 0x00, 0x00, 0x00},
	},
	codec: cupCodec{},
})

func cupBCD(n int, desc string) field.Field {
	return field.NewString(&field.Spec{Length: n, Description: desc, Enc: encoding.BCD, Pref: prefix.BCD.Fixed})
}

func cupLeftBCD(n int, desc string) field.Field {
	return field.NewString(&field.Spec{Length: n, Description: desc, Enc: encoding.LBCD, Pref: prefix.BCD.Fixed})
}

func cupText(n int, desc string) field.Field {
	return field.NewString(&field.Spec{Length: n, Description: desc, Enc: encoding.ASCII, Pref: prefix.ASCII.Fixed})
}

func cupVarBinary(max int, pref prefix.Prefixer, desc string) field.Field {
	return field.NewBinary(&field.Spec{Length: max, Description: desc, Enc: encoding.Binary, Pref: pref})
}

func cupVarText(max int, desc string) field.Field {
	return field.NewString(&field.Spec{Length: max, Description: desc, Enc: encoding.ASCII, Pref: prefix.BCD.LLL})
}

func cupVarDigits(max int, desc string) field.Field {
	return field.NewString(&field.Spec{Length: max, Description: desc, Enc: encoding.LBCD, Pref: prefix.BCD.LLL})
}

var cupSpec = &iso8583.MessageSpec{
	Name: "posd China UnionPay-style POS link",
	Fields: map[int]field.Field{
		DEMTI:            cupBCD(4, "Message Type Indicator"),
		DEBitmap:         field.NewBitmap(&field.Spec{Length: 8, Description: "Bitmap", Enc: encoding.Binary, Pref: prefix.Binary.Fixed}),
		DEProcessingCode: cupBCD(6, "Processing Code"),
		DEAmount:         cupBCD(12, "Transaction Amount"),
		DESTAN:           cupBCD(6, "Systems Trace Audit Number"),
		DELocalTime:      cupBCD(6, "Local Transaction Time"),
		DELocalDate:      cupBCD(4, "Local Transaction Date"),
		DEEntryMode:      cupLeftBCD(3, "POS Entry Mode"),
		DECondition:      cupBCD(2, "POS Condition Code"),
		DERRN:            cupText(12, "Retrieval Reference Number"),
		DEAuthCode:       cupText(6, "Authorization Identification Response"),
		DEResponseCode:   cupText(2, "Response Code"),
		DETerminalID:     cupText(8, "Card Acceptor Terminal Identification"),
		DEMerchantID:     cupText(15, "Card Acceptor Identification Code"),
		DEAdditional48:   cupVarDigits(322, "Additional Data - Private: Settlement Totals, Upload Count"),
		DECurrency:       cupText(3, "Currency Code, Transaction"),
		DEPINBlock:       cupVarBinary(MaxPINBlock, prefix.BCD.LL, "PIN Data (encrypted)"),
		DESecurity:       cupBCD(16, "Security Related Control Information"),
		DEBalance:        cupVarText(maxBalanceLen, "Additional Amounts (Balance)"),
		DEICC:            cupVarBinary(MaxICC, prefix.BCD.LLL, "ICC Data"),
		DEPrivateKSN:     cupVarBinary(MaxKSN, prefix.BCD.LLL, "Private: DUKPT KSN"),
		DEReserved60:     cupVarDigits(17, "Reserved Private: Transaction Type, Batch, Network Code"),
		DEOriginalInfo:   cupVarDigits(29, "Original Message"),
		DEPrivate62:      cupVarBinary(MaxTrack2Enc, prefix.BCD.LLL, "Private: Encrypted Track 2 / Original KSN"),
		DEPrivate63:      cupVarText(MaxRef, "Private: Terminal's Reference of an Uploaded Transaction"),
		DEMAC:            cupVarBinary(MACLen, prefix.Binary.Fixed, "Message Authentication Code"),
	},
}

// MTIs, DE60.1 transaction types and DE60.3 network management codes of
// the CUP dialect.
const (
	CUPMTIPurchase         = "0200"
	CUPMTIPurchaseResponse = "0210"
	CUPMTIAdvice           = "0220"
	CUPMTIAdviceResponse   = "0230"
	CUPMTIReversal         = "0400"
	CUPMTIReversalResponse = "0410"
	CUPMTISignOn           = "0800"
	CUPMTISignOnResponse   = "0810"
	CUPMTIManagement       = "0820" // echo test, sign-off
	CUPMTIManagementResp   = "0830"

	CUPTxnPurchase = "22"
	CUPTxnAdvice   = "30" // offline settlement
	CUPTxnNetwork  = "00"

	CUPNetFinancial = "000"
	CUPNetSignOn    = "003"
	CUPNetSignOff   = "002"
	CUPNetEcho      = "301"

	// Reversal reason codes of DE39 in a 0400.
	CUPReasonNoResponse = "98"
	CUPReasonMACFailure = "A0"
	CUPReasonOther      = "06"
)

// cupPurchaseRequest is a 0200.
type cupPurchaseRequest struct {
	MTI            string `index:"0"`
	ProcessingCode string `index:"3"`
	Amount         string `index:"4"`
	STAN           string `index:"11"`
	EntryMode      string `index:"22"`
	Condition      string `index:"25"`
	TerminalID     string `index:"41"`
	MerchantID     string `index:"42"`
	Currency       string `index:"49"`
	PINBlock       []byte `index:"52"`
	Security       string `index:"53"`
	ICC            []byte `index:"55"`
	KSN            []byte `index:"57"`
	Reserved60     string `index:"60"`
	Track2Enc      []byte `index:"62"`
}

// cupPurchaseResponse is a 0210.
type cupPurchaseResponse struct {
	MTI            string `index:"0"`
	ProcessingCode string `index:"3"`
	Amount         string `index:"4"`
	STAN           string `index:"11"`
	LocalTime      string `index:"12"`
	LocalDate      string `index:"13"`
	Condition      string `index:"25"`
	RRN            string `index:"37"`
	AuthCode       string `index:"38"`
	ResponseCode   string `index:"39"`
	TerminalID     string `index:"41"`
	MerchantID     string `index:"42"`
	Currency       string `index:"49"`
	ICC            []byte `index:"55"`
	Reserved60     string `index:"60"`
}

// cupAdviceRequest is a 0220.
type cupAdviceRequest struct {
	MTI            string `index:"0"`
	ProcessingCode string `index:"3"`
	Amount         string `index:"4"`
	STAN           string `index:"11"`
	EntryMode      string `index:"22"`
	Condition      string `index:"25"`
	Ref            string `index:"37"`
	ResponseCode   string `index:"39"`
	TerminalID     string `index:"41"`
	MerchantID     string `index:"42"`
	Currency       string `index:"49"`
	Security       string `index:"53"`
	ICC            []byte `index:"55"`
	KSN            []byte `index:"57"`
	Reserved60     string `index:"60"`
	Track2Enc      []byte `index:"62"`
}

// cupAdviceResponse is a 0230.
type cupAdviceResponse struct {
	MTI            string `index:"0"`
	ProcessingCode string `index:"3"`
	Amount         string `index:"4"`
	STAN           string `index:"11"`
	LocalTime      string `index:"12"`
	LocalDate      string `index:"13"`
	Condition      string `index:"25"`
	Ref            string `index:"37"`
	ResponseCode   string `index:"39"`
	TerminalID     string `index:"41"`
	MerchantID     string `index:"42"`
	Currency       string `index:"49"`
	Reserved60     string `index:"60"`
}

// cupReversalRequest is a 0400 (every attempt).
type cupReversalRequest struct {
	MTI            string `index:"0"`
	ProcessingCode string `index:"3"`
	Amount         string `index:"4"`
	STAN           string `index:"11"`
	EntryMode      string `index:"22"`
	Condition      string `index:"25"`
	Reason         string `index:"39"`
	TerminalID     string `index:"41"`
	MerchantID     string `index:"42"`
	Currency       string `index:"49"`
	Security       string `index:"53"`
	ICC            []byte `index:"55"`
	KSN            []byte `index:"57"`
	Reserved60     string `index:"60"`
	Original       string `index:"61"`
	OrigKSN        []byte `index:"62"`
}

// cupReversalResponse is a 0410.
type cupReversalResponse struct {
	MTI            string `index:"0"`
	ProcessingCode string `index:"3"`
	Amount         string `index:"4"`
	STAN           string `index:"11"`
	LocalTime      string `index:"12"`
	LocalDate      string `index:"13"`
	Condition      string `index:"25"`
	ResponseCode   string `index:"39"`
	TerminalID     string `index:"41"`
	MerchantID     string `index:"42"`
	Currency       string `index:"49"`
	Reserved60     string `index:"60"`
}

// cupNetworkRequest is a 0800 or 0820.
type cupNetworkRequest struct {
	MTI        string `index:"0"`
	STAN       string `index:"11"`
	TerminalID string `index:"41"`
	MerchantID string `index:"42"`
	Reserved60 string `index:"60"`
}

// cupNetworkResponse is a 0810 or 0830.
type cupNetworkResponse struct {
	MTI          string `index:"0"`
	STAN         string `index:"11"`
	LocalTime    string `index:"12"`
	LocalDate    string `index:"13"`
	ResponseCode string `index:"39"`
	TerminalID   string `index:"41"`
	MerchantID   string `index:"42"`
	Reserved60   string `index:"60"`
}

// cupField60 is DE60: 60.1 transaction type, 60.2 batch, 60.3 network
// management code.
type cupField60 struct {
	TxnType string
	Batch   uint32
	NetCode string
}

func (f cupField60) format() (string, error) {
	batch, err := fmtNum(int64(f.Batch), 6, "batch number")
	if err != nil {
		return "", err
	}
	return f.TxnType + batch + f.NetCode, nil
}

// parseCUPField60 reads 60.1 to 60.3; later sub-fields (60.4 on) are
// accepted and ignored.
func parseCUPField60(s string) (cupField60, error) {
	if len(s) < 11 || !isDigits(s, len(s)) {
		return cupField60{}, fmt.Errorf("%w: field 60 shorter than 11 digits", ErrMalformed)
	}
	batch, _ := parseNum(s[2:8], 6, "batch number")
	return cupField60{TxnType: s[:2], Batch: uint32(batch), NetCode: s[8:11]}, nil
}

// cupSecurity formats DE53 for a DUKPT mode and whether track data travels.
func cupSecurity(mode wiresec.Mode, track bool) (string, error) {
	var s string
	switch mode {
	case wiresec.ModeTDES:
		s = "16"
	case wiresec.ModeAES:
		s = "48"
	default:
		return "", fmt.Errorf("%w: DUKPT mode unknown for field 53", ErrInvalidRequest)
	}
	if track {
		s += "1"
	} else {
		s += "0"
	}
	return s + strings.Repeat("0", 13), nil
}

// parseCUPSecurity reads the DUKPT mode out of DE53.
func parseCUPSecurity(s string) (wiresec.Mode, error) {
	if !isDigits(s, 16) {
		return "", fmt.Errorf("%w: field 53", ErrMalformed)
	}
	switch s[:2] {
	case "16":
		return wiresec.ModeTDES, nil
	case "48":
		return wiresec.ModeAES, nil
	}
	return "", fmt.Errorf("%w: field 53 names no supported PIN format and algorithm", ErrMalformed)
}

func cupReasonCode(r ReversalReason) string {
	switch r {
	case ReasonNoResponse:
		return CUPReasonNoResponse
	case ReasonMACFailure:
		return CUPReasonMACFailure
	}
	return CUPReasonOther
}

func cupReason(code string) ReversalReason {
	switch code {
	case CUPReasonNoResponse:
		return ReasonNoResponse
	case CUPReasonMACFailure:
		return ReasonMACFailure
	}
	return ReasonOther
}

var cupNet = map[Kind]struct{ mti, code string }{
	KindSignOn:  {CUPMTISignOn, CUPNetSignOn},
	KindSignOff: {CUPMTIManagement, CUPNetSignOff},
	KindEcho:    {CUPMTIManagement, CUPNetEcho},
}

// cupNetKind tells a network management message's kind by its MTI and
// 60.3 (sign-on may also say 001 or 004, the other key-length variants).
func cupNetKind(mti, code string) Kind {
	switch {
	case mti == CUPMTISignOn || mti == CUPMTISignOnResponse:
		if code == CUPNetSignOn || code == "001" || code == "004" {
			return KindSignOn
		}
	case code == CUPNetSignOff:
		return KindSignOff
	case code == CUPNetEcho:
		return KindEcho
	}
	return ""
}

type cupCodec struct{}

func (cupCodec) encodeRequest(r *Request) (*iso8583.Message, error) {
	var v any
	switch r.Kind {
	case KindPurchase:
		amount, cur, entry, err := financialFields(r)
		if err != nil {
			return nil, err
		}
		stan, err := fmtNum(int64(r.STAN), 6, "STAN")
		if err != nil {
			return nil, err
		}
		sec, err := cupSecurity(cupMode(r), len(r.Track2Enc) > 0)
		if err != nil {
			return nil, err
		}
		f60, err := cupField60{TxnType: CUPTxnPurchase, Batch: r.Batch, NetCode: CUPNetFinancial}.format()
		if err != nil {
			return nil, err
		}
		v = &cupPurchaseRequest{
			MTI: CUPMTIPurchase, ProcessingCode: "000000", Amount: amount, STAN: stan,
			EntryMode: entry, Condition: "00", TerminalID: r.TerminalID, MerchantID: r.MerchantID,
			Currency: cur, PINBlock: r.PINBlock, Security: sec, ICC: r.ICC, KSN: r.KSN,
			Reserved60: f60, Track2Enc: r.Track2Enc,
		}
	case KindAdvice:
		amount, cur, entry, err := financialFields(r)
		if err != nil {
			return nil, err
		}
		ref, rc, err := adviceFields(r)
		if err != nil {
			return nil, err
		}
		stan, err := fmtNum(int64(r.STAN), 6, "STAN")
		if err != nil {
			return nil, err
		}
		sec, err := cupSecurity(cupMode(r), len(r.Track2Enc) > 0)
		if err != nil {
			return nil, err
		}
		f60, err := cupField60{TxnType: CUPTxnAdvice, Batch: r.Batch, NetCode: CUPNetFinancial}.format()
		if err != nil {
			return nil, err
		}
		v = &cupAdviceRequest{
			MTI: CUPMTIAdvice, ProcessingCode: "000000", Amount: amount, STAN: stan,
			EntryMode: entry, Condition: "00", Ref: ref, ResponseCode: rc, TerminalID: r.TerminalID,
			MerchantID: r.MerchantID, Currency: cur, Security: sec, ICC: r.ICC, KSN: r.KSN,
			Reserved60: f60, Track2Enc: r.Track2Enc,
		}
	case KindReversal:
		origKind, err := reversalOrig(r.OrigKind)
		if err != nil {
			return nil, err
		}
		voided, err := reversalVoided(origKind, r.VoidedKind)
		if err != nil {
			return nil, err
		}
		codes := cupReversalCodes(origKind, voided)
		amount, cur, entry, err := financialFields(r)
		if err != nil {
			return nil, err
		}
		// The original resent: its STAN is the 0400's DE11.
		stan, err := fmtNum(int64(r.OrigSTAN), 6, "original STAN")
		if err != nil {
			return nil, err
		}
		if !r.Reason.valid() {
			return nil, fmt.Errorf("%w: reason must be printable ASCII up to %d characters", ErrInvalidRequest, MaxReason)
		}
		sec, err := cupSecurity(cupMode(r), false)
		if err != nil {
			return nil, err
		}
		f60, err := cupField60{TxnType: codes.txn, Batch: r.Batch, NetCode: CUPNetFinancial}.format()
		if err != nil {
			return nil, err
		}
		date := "0000"
		if !r.OrigTime.IsZero() {
			date = r.OrigTime.Format("0102")
		}
		v = &cupReversalRequest{
			MTI: CUPMTIReversal, ProcessingCode: codes.proc, Amount: amount, STAN: stan,
			EntryMode: entry, Condition: codes.cond, Reason: cupReasonCode(r.Reason),
			TerminalID: r.TerminalID, MerchantID: r.MerchantID, Currency: cur, Security: sec,
			ICC: r.ICC, KSN: r.KSN, Reserved60: f60, Original: f60[2:8] + stan + date, OrigKSN: r.OrigKSN,
		}
	case KindSignOn, KindSignOff, KindEcho:
		stan, err := fmtNum(int64(r.STAN), 6, "STAN")
		if err != nil {
			return nil, err
		}
		net := cupNet[r.Kind]
		f60, err := cupField60{TxnType: CUPTxnNetwork, Batch: r.Batch, NetCode: net.code}.format()
		if err != nil {
			return nil, err
		}
		v = &cupNetworkRequest{MTI: net.mti, STAN: stan, TerminalID: r.TerminalID, MerchantID: r.MerchantID, Reserved60: f60}
	case KindRefund, KindPreauth, KindBalance, KindVoid, KindCompletion, KindSettlement, KindBatchUpload:
		return cupCodec{}.encodeKind(r)
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupported, r.Kind)
	}
	return marshal(cupSpec, v)
}

// cupMode is the DUKPT mode DE53 states: the request's, or the one its KSN
// length tells.
func cupMode(r *Request) wiresec.Mode {
	if r.Mode != "" {
		return r.Mode
	}
	return modeOfKSN(r.KSN)
}

func (c cupCodec) decodeRequest(m *iso8583.Message, mti string) (Request, error) {
	var r Request
	switch mti {
	case CUPMTIPurchase, CUPMTIAdvice, CUPMTIAuthorization, CUPMTISettlement, CUPMTIBatchUpload:
		kind, f60, err := cupRequestKind(m, mti)
		if err != nil {
			return r, err
		}
		if kind != KindPurchase && kind != KindAdvice {
			return c.decodeKind(m, kind, f60)
		}
	}
	switch mti {
	case CUPMTIPurchase:
		var v cupPurchaseRequest
		if err := unmarshal(m, &v); err != nil {
			return r, err
		}
		r = Request{
			Kind: KindPurchase, TerminalID: v.TerminalID, MerchantID: v.MerchantID, Currency: v.Currency,
			EntryMode: v.EntryMode, KSN: v.KSN, Track2Enc: v.Track2Enc, PINBlock: v.PINBlock, ICC: v.ICC,
		}
		if err := decodeFinancial(&r, v.STAN, v.Amount); err != nil {
			return r, err
		}
		return r, cupDecodeCommon(&r, v.Security, v.Reserved60, CUPTxnPurchase)
	case CUPMTIAdvice:
		var v cupAdviceRequest
		if err := unmarshal(m, &v); err != nil {
			return r, err
		}
		r = Request{
			Kind: KindAdvice, TerminalID: v.TerminalID, MerchantID: v.MerchantID, Currency: v.Currency,
			EntryMode: v.EntryMode, KSN: v.KSN, Track2Enc: v.Track2Enc, ICC: v.ICC,
		}
		if err := decodeFinancial(&r, v.STAN, v.Amount); err != nil {
			return r, err
		}
		if err := cupDecodeCommon(&r, v.Security, v.Reserved60, CUPTxnAdvice); err != nil {
			return r, err
		}
		return r, decodeAdvice(&r, m, v.Ref, v.ResponseCode)
	case CUPMTIReversal:
		var v cupReversalRequest
		if err := unmarshal(m, &v); err != nil {
			return r, err
		}
		r = Request{
			Kind: KindReversal, TerminalID: v.TerminalID, MerchantID: v.MerchantID, Currency: v.Currency,
			EntryMode: v.EntryMode, KSN: v.KSN, ICC: v.ICC, OrigKSN: v.OrigKSN,
			Reason: cupReason(v.Reason), ReasonCode: v.Reason,
		}
		if err := decodeFinancial(&r, v.STAN, v.Amount); err != nil {
			return r, err
		}
		f60, err := parseCUPField60(v.Reserved60)
		if err != nil {
			return r, err
		}
		if r.OrigKind, r.VoidedKind = cupReversalKind(f60.TxnType, v.ProcessingCode); r.OrigKind == "" {
			return r, fmt.Errorf("%w: reversal of transaction type %q", ErrUnsupported, f60.TxnType)
		}
		// The original resent: its DE3 and DE25 with its 60.1.
		if want := cupReversalCodes(r.OrigKind, r.VoidedKind); v.ProcessingCode != want.proc || v.Condition != want.cond {
			return r, fmt.Errorf("%w: processing or POS condition code of a reversal of transaction type %q", ErrMalformed, f60.TxnType)
		}
		if err := cupDecodeCommon(&r, v.Security, v.Reserved60, f60.TxnType); err != nil {
			return r, err
		}
		r.OrigSTAN = r.STAN
		if v.Original != "" {
			if len(v.Original) < 16 || v.Original[6:12] != v.STAN {
				return r, fmt.Errorf("%w: field 61 does not name the original of field 11", ErrMalformed)
			}
		}
		r.OrigRef = v.STAN + "/" + v.Original
		return r, nil
	case CUPMTISignOn, CUPMTIManagement:
		var v cupNetworkRequest
		if err := unmarshal(m, &v); err != nil {
			return r, err
		}
		r = Request{TerminalID: v.TerminalID, MerchantID: v.MerchantID}
		stan, err := parseNum(v.STAN, 6, "STAN")
		if err != nil {
			return r, err
		}
		r.STAN = uint32(stan)
		f60, err := parseCUPField60(v.Reserved60)
		if err != nil {
			return r, err
		}
		r.Batch = f60.Batch
		if r.Kind = cupNetKind(mti, f60.NetCode); r.Kind == "" {
			return r, fmt.Errorf("%w: network management code %q", ErrUnsupported, f60.NetCode)
		}
		return r, nil
	}
	return r, fmt.Errorf("%w: MTI %s", ErrUnsupported, mti)
}

// cupDecodeCommon reads DE53 and DE60 of a financial request whose 60.1
// must be txnType.
func cupDecodeCommon(r *Request, security, reserved60, txnType string) error {
	mode, err := parseCUPSecurity(security)
	if err != nil {
		return err
	}
	if len(r.KSN) != mode.KSNLen() {
		return fmt.Errorf("%w: KSN length does not match field 53", ErrMalformed)
	}
	r.Mode = mode
	f60, err := parseCUPField60(reserved60)
	if err != nil {
		return err
	}
	if f60.TxnType != txnType {
		return fmt.Errorf("%w: transaction type %q", ErrUnsupported, f60.TxnType)
	}
	r.Batch = f60.Batch
	return nil
}

func (cupCodec) encodeResponse(req *Request, resp *Response) (*iso8583.Message, error) {
	mti := ResponseMTI(req.MTI)
	if mti == "" {
		return nil, fmt.Errorf("%w: request MTI %q", ErrInvalidRequest, req.MTI)
	}
	if err := responseICC(req.Kind, resp.ICC); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	// A 0400's DE11 is the original's STAN (req.STAN as decoded).
	stan, err := fmtNum(int64(req.STAN), 6, "STAN")
	if err != nil {
		return nil, err
	}
	var de12, de13 string
	if !resp.Time.IsZero() {
		de12, de13 = resp.Time.Format("150405"), resp.Time.Format("0102")
	}
	var v any
	switch req.Kind {
	case KindPurchase, KindReversal:
		amount, cur, _, err := financialFields(req)
		if err != nil {
			return nil, err
		}
		codes := cupKinds[KindPurchase]
		if req.Kind == KindReversal {
			codes = cupReversalCodes(orKind(req.OrigKind), req.VoidedKind)
		}
		f60, err := cupField60{TxnType: codes.txn, Batch: req.Batch, NetCode: CUPNetFinancial}.format()
		if err != nil {
			return nil, err
		}
		if req.Kind == KindPurchase {
			v = &cupPurchaseResponse{
				MTI: mti, ProcessingCode: "000000", Amount: amount, STAN: stan, LocalTime: de12, LocalDate: de13,
				Condition: "00", RRN: resp.RRN, AuthCode: resp.AuthCode, ResponseCode: resp.ResponseCode,
				TerminalID: req.TerminalID, MerchantID: req.MerchantID, Currency: cur, ICC: resp.ICC, Reserved60: f60,
			}
		} else {
			v = &cupReversalResponse{
				MTI: mti, ProcessingCode: codes.proc, Amount: amount, STAN: stan, LocalTime: de12, LocalDate: de13,
				Condition: codes.cond, ResponseCode: resp.ResponseCode, TerminalID: req.TerminalID,
				MerchantID: req.MerchantID, Currency: cur, Reserved60: f60,
			}
		}
	case KindAdvice:
		amount, cur, _, err := financialFields(req)
		if err != nil {
			return nil, err
		}
		ref, err := fmtRef(req.Ref)
		if err != nil {
			return nil, err
		}
		f60, err := cupField60{TxnType: CUPTxnAdvice, Batch: req.Batch, NetCode: CUPNetFinancial}.format()
		if err != nil {
			return nil, err
		}
		v = &cupAdviceResponse{
			MTI: mti, ProcessingCode: "000000", Amount: amount, STAN: stan, LocalTime: de12, LocalDate: de13,
			Condition: "00", Ref: ref, ResponseCode: resp.ResponseCode, TerminalID: req.TerminalID,
			MerchantID: req.MerchantID, Currency: cur, Reserved60: f60,
		}
	case KindSignOn, KindSignOff, KindEcho:
		f60, err := cupField60{TxnType: CUPTxnNetwork, Batch: req.Batch, NetCode: cupNet[req.Kind].code}.format()
		if err != nil {
			return nil, err
		}
		v = &cupNetworkResponse{
			MTI: mti, STAN: stan, LocalTime: de12, LocalDate: de13, ResponseCode: resp.ResponseCode,
			TerminalID: req.TerminalID, MerchantID: req.MerchantID, Reserved60: f60,
		}
	case KindRefund, KindPreauth, KindBalance, KindVoid, KindCompletion, KindSettlement, KindBatchUpload:
		return cupCodec{}.encodeKindResponse(req, resp, mti, stan, de12, de13)
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupported, req.Kind)
	}
	return marshal(cupSpec, v)
}

func (c cupCodec) decodeResponse(m *iso8583.Message, mti string) (Response, error) {
	var r Response
	var stan, amount string
	switch mti {
	case CUPMTIPurchaseResponse, CUPMTIAdviceResponse, CUPMTIAuthorizationResp, CUPMTISettlementResponse, CUPMTIBatchUploadResp:
		kind, f60, err := cupResponseKind(m, mti)
		if err != nil {
			return r, err
		}
		if kind != KindPurchase && kind != KindAdvice {
			r, stan, amount, err := c.decodeKindResponse(m, kind, f60)
			if err != nil {
				return r, err
			}
			return r, decodeResponseNumbers(&r, stan, amount)
		}
	}
	switch mti {
	case CUPMTIPurchaseResponse:
		var v cupPurchaseResponse
		if err := unmarshal(m, &v); err != nil {
			return r, err
		}
		r = Response{Kind: KindPurchase, TerminalID: v.TerminalID, ResponseCode: v.ResponseCode, AuthCode: v.AuthCode, RRN: v.RRN, ICC: v.ICC}
		if err := responseICC(r.Kind, r.ICC); err != nil {
			return r, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		stan, amount = v.STAN, v.Amount
	case CUPMTIAdviceResponse:
		var v cupAdviceResponse
		if err := unmarshal(m, &v); err != nil {
			return r, err
		}
		r = Response{Kind: KindAdvice, TerminalID: v.TerminalID, ResponseCode: v.ResponseCode}
		if err := decodeAdviceRef(&r, v.Ref); err != nil {
			return r, err
		}
		stan, amount = v.STAN, v.Amount
	case CUPMTIReversalResponse:
		var v cupReversalResponse
		if err := unmarshal(m, &v); err != nil {
			return r, err
		}
		r = Response{Kind: KindReversal, TerminalID: v.TerminalID, ResponseCode: v.ResponseCode}
		stan, amount = v.STAN, v.Amount
	case CUPMTISignOnResponse, CUPMTIManagementResp:
		var v cupNetworkResponse
		if err := unmarshal(m, &v); err != nil {
			return r, err
		}
		r = Response{TerminalID: v.TerminalID, ResponseCode: v.ResponseCode}
		if f60, err := parseCUPField60(v.Reserved60); err == nil {
			r.Kind = cupNetKind(mti, f60.NetCode)
		}
		stan = v.STAN
	default:
		return r, fmt.Errorf("%w: MTI %s", ErrUnsupported, mti)
	}
	return r, decodeResponseNumbers(&r, stan, amount)
}

func (cupCodec) echoes() []int { return []int{DESTAN, DETerminalID, DEMerchantID} }

// CUP's DE48 of a settlement: counts n3, amounts n12, per side.
const (
	cupCountDigits  = 3
	cupAmountDigits = 12
)

func (cupCodec) totalsDigits() (count, amount int) { return cupCountDigits, cupAmountDigits }
