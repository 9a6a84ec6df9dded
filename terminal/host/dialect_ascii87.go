package host

import (
	"fmt"
	"time"

	"github.com/moov-io/iso8583"
	"github.com/moov-io/iso8583/encoding"
	"github.com/moov-io/iso8583/field"
	"github.com/moov-io/iso8583/prefix"
)

// ASCII87 ("ascii87", the default) is ISO 8583:1987 with ASCII text fields,
// as spoken between posd and its acquirer from the start.
//
// Encoding: MTI and all n/an/ans fields are ASCII; the bitmap and the b
// fields are raw binary. Variable fields carry an ASCII length prefix (LL =
// two digits, LLL = three digits) that counts characters for text fields
// and bytes for binary fields.
//
// Data elements (M = mandatory in requests, C = conditional, R = response):
//
//	DE   format          use
//	0    n4              MTI: 0200/0210 purchase, refund and void, 0100/0110
//	                     pre-authorization, its void and balance inquiry, 0220/0230 advice
//	                     (an offline approval forwarded) and completion,
//	                     0400/0401/0410 reversal, 0500/0510 settlement, 0320/0330
//	                     batch upload, 0800/0810 network management
//	1    b64 (+b64)      bitmap; the secondary bitmap appears when a field above 64 is present
//	3    n6 fixed        processing code (with DE25, what a 0200, 0100 or 0220 is;
//	                     see "Kinds" below): "000000" goods and services, "200000"
//	                     refund, "020000" void of a sale, completion or
//	                     pre-authorization, "220000"
//	                     void of a refund, "310000" balance inquiry, "920000"
//	                     settlement, "960000" settlement after a batch upload; in
//	                     a 0400 and a 0320 the original's
//	4    n12 fixed       amount in minor units, zero padded (absent from a
//	                     balance inquiry and a settlement); a void's is the
//	                     original's, a completion's the final amount
//	7    n10 fixed       transmission date and time MMDDhhmmss, UTC
//	11   n6 fixed        STAN
//	12   n6 fixed        local transaction time hhmmss
//	13   n4 fixed        local transaction date MMDD
//	22   n3 fixed        POS entry mode (in a 0400, a void, a completion and a
//	                     0320: the original's)
//	25   n2 fixed        POS condition code, "00" normal presentment, "06"
//	                     pre-authorization (a 0100 pre-authorization and its
//	                     void, a 0220 completion, and their 0400 and 0320)
//	37   an12 fixed      in a 0210/0110 (R, approvals): retrieval reference number; in
//	                     a 0220 advice (M) the terminal's reference of the transaction
//	                     (Request.Ref, 1 to 12 digits or letters), left-justified
//	                     and space-padded, echoed in the 0230: the host
//	                     deduplicates advices by DE41 + DE37; in a void, a
//	                     completion, a refund naming its sale and a 0320 (C) the
//	                     original's RRN (Request.OrigRRN), left-justified and
//	                     space-padded
//	38   an6 fixed       authorization code (R, approvals); in a void, a refund
//	                     naming its sale and a 0320 (C), and a completion (M),
//	                     the original's (Request.OrigAuthCode), space-padded
//	39   an2 fixed       response code (R); in a 0220 (M) the terminal's
//	                     decision, "Y1" offline approved; absent from other
//	                     requests. An advice is answered "00" (the host has it,
//	                     also when it is a repeat) or "91" (busy: try later); a
//	                     settlement "00" (balanced, the batch is closed) or "95"
//	                     (out of balance: upload the batch, then settle again)
//	41   ans8 fixed      terminal id (card acceptor terminal identification)
//	42   ans15 fixed     merchant id (card acceptor identification code)
//	49   n3 fixed        currency code, ISO 4217 numeric (of the totals in a 0500)
//	52   b..16 LLVAR     PIN block (0200/0100, optional: online PIN; never in a 0220), encrypted under
//	                     the PIN key of the KSN in DE53 (the one transaction key
//	                     also gives the message's MAC and data keys): 8 bytes
//	                     ISO 9564 format 0 under the TDES DUKPT PIN variant, 16
//	                     bytes format 4 under the AES DUKPT PIN encryption key
//	                     (usage PIN). Its length must match the mode DE53's
//	                     length tells. (1987 defines b64 fixed; the variable
//	                     length carries the AES block.)
//	53   b..12 LLVAR     DUKPT KSN of the transaction keys: 10 bytes TDES, 12 bytes AES
//	                     (every MACed request)
//	54   an..120 LLLVAR  additional amounts (R, a balance inquiry's 0110): 20
//	                     characters an entry: account type n2, amount type n2
//	                     ("02" available balance, the one read), currency n3,
//	                     "C" (credit) or "D" (debit: negative), amount n12
//	55   b..255 LLLVAR   ICC (EMV) data, BER-TLV (see ParseICC): in a 0200/0100 the
//	                     card's and terminal's data of the ARQC, in a 0220 those
//	                     of the card's TC, never clear card data
//	                     (ClearCardTags); in a 0210/0110 (R, optional) the
//	                     issuer's answer for the card: 91 issuer authentication
//	                     data, 71/72 issuer scripts (ParseIssuerData). The ARC
//	                     for the card (8A) is DE39 as two ASCII characters.
//	60   ans..60 LLLVAR  private: reversal reason text (0400/0401; the
//	                     ReversalReason text, e.g. "no response"); batch number
//	                     n6 (0500/0510 and 0320)
//	62   b..64 LLLVAR    private: track 2 equivalent data, encrypted (see
//	                     terminal/wiresec), in a 0200/0100 of a card and a 0220
//	                     advice; the clear track never travels; in any response
//	                     (R, optional) the host's notices, e.g. DF01 01 01 "an
//	                     update waits at the TMS" (notice.go)
//	63   ans..12 LLLVAR  private: the terminal's reference of an uploaded
//	                     transaction (0320, echoed in the 0330: UploadItem.Ref,
//	                     1 to 12 digits or letters, no padding)
//	64   b64 fixed       MAC when the message has only the primary bitmap
//	70   n3 fixed        network management code: 001 sign-on, 002 sign-off, 301 echo
//	74   n10 fixed       credits, number (0500): refunds
//	76   n10 fixed       debits, number (0500): sales, completions, offline approvals
//	86   n16 fixed       credits, amount (0500)
//	88   n16 fixed       debits, amount (0500)
//	90   n42 fixed       original data elements of a reversal, a void, a
//	                     completion, a refund naming its sale and a 0320: original
//	                     MTI (4) + original STAN (6) + original DE7 (10, zeros
//	                     when unknown) + acquiring institution id (11, zeros) +
//	                     forwarding institution id (11, zeros)
//	128  b64 fixed       MAC when the message has a secondary bitmap
//
// Kinds: what each request is on the wire (MTI, DE3, DE25; DE90's
// original MTI where one is named), and what tells it apart when read:
//
//	kind               MTI   DE3     DE25  original (DE90 MTI)
//	purchase           0200  000000  00    -
//	refund             0200  200000  00    optional: 0200 sale, 0220 completion
//	void               0200  020000  00    0200 sale, 0220 completion
//	void of a refund   0200  220000  00    0200 refund
//	void of a pre-     0100  020000  06    0100 pre-authorization
//	  authorization
//	pre-authorization  0100  000000  06    -
//	balance inquiry    0100  310000  00    -
//	completion         0220  000000  06    0100 pre-authorization
//	advice             0220  000000  00    -
//	reversal           0400  the original's DE3 and DE25; DE90 its MTI
//	settlement         0500  920000 (first), 960000 (after upload); no DE25
//	batch upload       0320  the original's DE3 and DE25; DE90 its MTI
//
// So a 0220 is a completion when DE25 is "06" and an advice otherwise; a
// 0100 is a void (of a pre-authorization: its cancellation, the hold
// released, no money moved) when DE3 is "020000";
// a 0400's original is the kind whose DE3, DE25 and DE90 MTI it names; a
// reversal of a void resends that void's: "220000" of a refund's, DE90
// MTI "0100" and DE25 "06" of a pre-authorization's cancellation,
// "020000" and "0200" of the void of a sale or of a completion (which
// look alike: Request.VoidedKind is read back empty for both); a
// 0320's original is the kind whose MTI, DE3 and DE25 it names (a sale
// 0200, an offline approval 0220 with "00", a completion 0220 with
// "06", a refund 0200 with "200000"). Every field a request of a kind
// may carry is listed above; a request carrying another (a PIN block or a
// track in a void, say) does not decode.
//
// A refund, a pre-authorization and a balance inquiry carry the card like
// a purchase (DE22, DE52, DE53, DE55, DE62; a balance inquiry no DE4); a
// refund may name its sale (DE37, DE38, DE90). A void and a completion
// read no card: DE4, DE22 (the original's), DE37/DE38/DE90 of the
// original, the KSN in DE53, the MAC. A settlement carries DE3, DE7,
// DE11-13, DE41, DE42, DE49, DE53, DE60 (batch) and the totals in
// DE74/76/86/88 (counts of 10 digits, amounts of 16, not negative); it is
// answered with a 0510 echoing DE3, DE11, DE41, DE42, DE49 and DE60 and
// carrying DE7 and DE39. A
// batch upload carries one transaction of the batch: its DE3, DE4, DE22,
// DE25, DE37, DE38 (when it has them), DE49, DE60 (batch), DE63 (the
// terminal's reference) and DE90, the KSN in DE53, no card data; the 0330
// echoes DE3, DE4, DE11, DE25, DE41, DE42, DE49 and DE63 and carries DE7
// and DE39. Answers to
// refunds, voids, pre-authorizations, completions and balance inquiries
// echo DE3, DE4 (but a balance inquiry's), DE11, DE25, DE41, DE42 and
// DE49 and carry DE7, DE12, DE13, DE37, DE38, DE39 (and DE54, DE55).
//
// DE2 (PAN), DE35 (track 2) and DE45 (track 1) are deliberately not defined:
// a message carrying any of them fails to unpack, and none can be packed.
//
// MAC: the MAC is always the last field of the message: DE64 when only the
// primary bitmap is present, DE128 when the secondary bitmap is present
// (sign-on and echo are not MACed; a purchase, a pre-authorization, a
// balance inquiry, a refund that names no sale, an advice and their
// answers use DE64; reversals, voids, completions, refunds naming their
// sale, settlements and batch uploads use DE128 because DE90 or DE74-88
// force the secondary bitmap; their answers use DE64 unless they carry a
// field above 64). The MACed bytes are the packed
// ISO message exactly as sent, from the first MTI byte up to and excluding
// the 8 MAC bytes: MTI, bitmap(s) with the MAC bit already set, and every
// field before the MAC. The sender packs the message with 8 zero bytes in
// the MAC field, computes the MAC over all but the last 8 bytes and
// replaces them.
//
// An advice (0220) carries the fields of the purchase the card approved
// offline (DE3 "000000", DE4, DE7/12/13 of the approval, DE22, DE25,
// DE41/42/49, the KSN of its own DUKPT key in DE53, DE55, DE62) without a
// PIN block, plus DE37 and DE39. Every attempt at one advice has the same
// DE11 and DE37 (and a fresh KSN and MAC); there is no repeat MTI. The
// 0230 echoes DE3, DE4, DE11, DE37, DE41, DE42 and DE49 and carries DE7
// and DE39.
//
// Framing: a 2-byte big-endian length header, then the optional TPDU (5
// bytes: 0x60, 2-byte destination, 2-byte source; responses swap the
// addresses). No message header.
//
// What the host expects of a reversal: the first attempt is a 0400 with a
// STAN of its own (DE11), the original's MTI, STAN and DE7 in DE90 and the
// reason text in DE60. Every further attempt at the same reversal is a
// 0401 (ISO 8583:1987 "repeat": last MTI digit 1) identical in content,
// with the same DE11, so the host can tell a repeat from a new reversal and
// answer it again without undoing the original twice. Both are answered
// with a 0410. (Each attempt still has a fresh DUKPT KSN in DE53 and its
// own MAC: a DUKPT key serves one message.)
var ASCII87 = register(&Dialect{
	Name:    "ascii87",
	Spec:    ascii87Spec,
	Framing: Framing{},
	codec:   ascii87Codec{},
})

func a87Text(n int, desc string) field.Field {
	return field.NewString(&field.Spec{Length: n, Description: desc, Enc: encoding.ASCII, Pref: prefix.ASCII.Fixed})
}

func a87Binary(n int, desc string) field.Field {
	return field.NewBinary(&field.Spec{Length: n, Description: desc, Enc: encoding.Binary, Pref: prefix.Binary.Fixed})
}

var ascii87Spec = &iso8583.MessageSpec{
	Name: "posd ISO 8583:1987 ASCII acquirer link",
	Fields: map[int]field.Field{
		DEMTI:            a87Text(4, "Message Type Indicator"),
		DEBitmap:         field.NewBitmap(&field.Spec{Length: 8, Description: "Bitmap", Enc: encoding.Binary, Pref: prefix.Binary.Fixed}),
		DEProcessingCode: a87Text(6, "Processing Code"),
		DEAmount:         a87Text(12, "Transaction Amount"),
		DETransmission:   a87Text(10, "Transmission Date & Time"),
		DESTAN:           a87Text(6, "Systems Trace Audit Number"),
		DELocalTime:      a87Text(6, "Local Transaction Time"),
		DELocalDate:      a87Text(4, "Local Transaction Date"),
		DEEntryMode:      a87Text(3, "POS Entry Mode"),
		DECondition:      a87Text(2, "POS Condition Code"),
		DERRN:            a87Text(12, "Retrieval Reference Number"),
		DEAuthCode:       a87Text(6, "Authorization Identification Response"),
		DEResponseCode:   a87Text(2, "Response Code"),
		DETerminalID:     a87Text(8, "Card Acceptor Terminal Identification"),
		DEMerchantID:     a87Text(15, "Card Acceptor Identification Code"),
		DECurrency:       a87Text(3, "Currency Code, Transaction"),
		DEPINBlock: field.NewBinary(&field.Spec{
			Length: MaxPINBlock, Description: "PIN Data (encrypted)", Enc: encoding.Binary, Pref: prefix.ASCII.LL,
		}),
		DEKSN: field.NewBinary(&field.Spec{
			Length: MaxKSN, Description: "Security Related Control Information (DUKPT KSN)", Enc: encoding.Binary, Pref: prefix.ASCII.LL,
		}),
		DEICC: field.NewBinary(&field.Spec{
			Length: MaxICC, Description: "ICC Data", Enc: encoding.Binary, Pref: prefix.ASCII.LLL,
		}),
		DEBalance: field.NewString(&field.Spec{
			Length: maxBalanceLen, Description: "Additional Amounts", Enc: encoding.ASCII, Pref: prefix.ASCII.LLL,
		}),
		DEReversalReason: field.NewString(&field.Spec{
			Length: MaxReason, Description: "Private: Reversal Reason / Batch Number", Enc: encoding.ASCII, Pref: prefix.ASCII.LLL,
		}),
		DETrack2Enc: field.NewBinary(&field.Spec{
			Length: MaxTrack2Enc, Description: "Private: Encrypted Track 2 Data", Enc: encoding.Binary, Pref: prefix.ASCII.LLL,
		}),
		DEUploadRef: field.NewString(&field.Spec{
			Length: MaxRef, Description: "Private: Terminal's Reference of an Uploaded Transaction", Enc: encoding.ASCII, Pref: prefix.ASCII.LLL,
		}),
		DEMAC:           a87Binary(MACLen, "Message Authentication Code"),
		DENetworkCode:   a87Text(3, "Network Management Information Code"),
		DECreditsCount:  a87Text(a87CountDigits, "Credits, Number"),
		DEDebitsCount:   a87Text(a87CountDigits, "Debits, Number"),
		DECreditsAmount: a87Text(a87AmountDigits, "Credits, Amount"),
		DEDebitsAmount:  a87Text(a87AmountDigits, "Debits, Amount"),
		DEOriginalData:  a87Text(42, "Original Data Elements"),
		DEMAC2:          a87Binary(MACLen, "Message Authentication Code (secondary)"),
	},
}

// MTIs and network management codes of the ASCII87 dialect.
const (
	MTIPurchase         = "0200"
	MTIPurchaseResponse = "0210"
	MTIAdvice           = "0220"
	MTIAdviceResponse   = "0230"
	MTIReversal         = "0400"
	MTIReversalRepeat   = "0401"
	MTIReversalResponse = "0410"
	MTINetwork          = "0800"
	MTINetworkResponse  = "0810"

	NetSignOn  = "001"
	NetSignOff = "002"
	NetEcho    = "301"
)

// The typed messages of ASCII87: one struct per message, packed and read
// by iso8583.Message.Marshal/Unmarshal through the index tags. Numeric
// fields are strings so their leading zeros are kept as the spec's fixed
// lengths need them.

// a87PurchaseRequest is a 0200.
type a87PurchaseRequest struct {
	MTI            string `index:"0"`
	ProcessingCode string `index:"3"`
	Amount         string `index:"4"`
	Transmission   string `index:"7"`
	STAN           string `index:"11"`
	LocalTime      string `index:"12"`
	LocalDate      string `index:"13"`
	EntryMode      string `index:"22"`
	Condition      string `index:"25"`
	TerminalID     string `index:"41"`
	MerchantID     string `index:"42"`
	Currency       string `index:"49"`
	PINBlock       []byte `index:"52"`
	KSN            []byte `index:"53"`
	ICC            []byte `index:"55"`
	Track2Enc      []byte `index:"62"`
}

// a87PurchaseResponse is a 0210.
type a87PurchaseResponse struct {
	MTI            string `index:"0"`
	ProcessingCode string `index:"3"`
	Amount         string `index:"4"`
	Transmission   string `index:"7"`
	STAN           string `index:"11"`
	LocalTime      string `index:"12"`
	LocalDate      string `index:"13"`
	RRN            string `index:"37"`
	AuthCode       string `index:"38"`
	ResponseCode   string `index:"39"`
	TerminalID     string `index:"41"`
	MerchantID     string `index:"42"`
	Currency       string `index:"49"`
	ICC            []byte `index:"55"`
}

// a87AdviceRequest is a 0220.
type a87AdviceRequest struct {
	MTI            string `index:"0"`
	ProcessingCode string `index:"3"`
	Amount         string `index:"4"`
	Transmission   string `index:"7"`
	STAN           string `index:"11"`
	LocalTime      string `index:"12"`
	LocalDate      string `index:"13"`
	EntryMode      string `index:"22"`
	Condition      string `index:"25"`
	Ref            string `index:"37"`
	ResponseCode   string `index:"39"`
	TerminalID     string `index:"41"`
	MerchantID     string `index:"42"`
	Currency       string `index:"49"`
	KSN            []byte `index:"53"`
	ICC            []byte `index:"55"`
	Track2Enc      []byte `index:"62"`
}

// a87AdviceResponse is a 0230.
type a87AdviceResponse struct {
	MTI            string `index:"0"`
	ProcessingCode string `index:"3"`
	Amount         string `index:"4"`
	Transmission   string `index:"7"`
	STAN           string `index:"11"`
	Ref            string `index:"37"`
	ResponseCode   string `index:"39"`
	TerminalID     string `index:"41"`
	MerchantID     string `index:"42"`
	Currency       string `index:"49"`
}

// a87ReversalRequest is a 0400 or its repeat 0401.
type a87ReversalRequest struct {
	MTI            string `index:"0"`
	ProcessingCode string `index:"3"`
	Amount         string `index:"4"`
	Transmission   string `index:"7"`
	STAN           string `index:"11"`
	LocalTime      string `index:"12"`
	LocalDate      string `index:"13"`
	EntryMode      string `index:"22"`
	Condition      string `index:"25"`
	TerminalID     string `index:"41"`
	MerchantID     string `index:"42"`
	Currency       string `index:"49"`
	KSN            []byte `index:"53"`
	Reason         string `index:"60"`
	OriginalData   string `index:"90"`
}

// a87ReversalResponse is a 0410.
type a87ReversalResponse struct {
	MTI            string `index:"0"`
	ProcessingCode string `index:"3"`
	Amount         string `index:"4"`
	Transmission   string `index:"7"`
	STAN           string `index:"11"`
	ResponseCode   string `index:"39"`
	TerminalID     string `index:"41"`
	MerchantID     string `index:"42"`
	Currency       string `index:"49"`
	OriginalData   string `index:"90"`
}

// a87NetworkRequest is a 0800.
type a87NetworkRequest struct {
	MTI          string `index:"0"`
	Transmission string `index:"7"`
	STAN         string `index:"11"`
	LocalTime    string `index:"12"`
	LocalDate    string `index:"13"`
	TerminalID   string `index:"41"`
	NetworkCode  string `index:"70"`
}

// a87NetworkResponse is a 0810.
type a87NetworkResponse struct {
	MTI          string `index:"0"`
	Transmission string `index:"7"`
	STAN         string `index:"11"`
	ResponseCode string `index:"39"`
	TerminalID   string `index:"41"`
	NetworkCode  string `index:"70"`
}

type ascii87Codec struct{}

var a87NetCodes = map[Kind]string{KindSignOn: NetSignOn, KindSignOff: NetSignOff, KindEcho: NetEcho}

// a87Times formats DE7 (UTC), DE12 and DE13 (local) of t; all empty for a
// zero t.
func a87Times(t time.Time) (de7, de12, de13 string) {
	if t.IsZero() {
		return "", "", ""
	}
	return t.UTC().Format("0102150405"), t.Format("150405"), t.Format("0102")
}

func (ascii87Codec) encodeRequest(r *Request) (*iso8583.Message, error) {
	stan, err := fmtNum(int64(r.STAN), 6, "STAN")
	if err != nil {
		return nil, err
	}
	de7, de12, de13 := a87Times(r.Time)
	var v any
	switch r.Kind {
	case KindPurchase:
		amount, cur, entry, err := financialFields(r)
		if err != nil {
			return nil, err
		}
		v = &a87PurchaseRequest{
			MTI: MTIPurchase, ProcessingCode: "000000", Amount: amount, Transmission: de7,
			STAN: stan, LocalTime: de12, LocalDate: de13, EntryMode: entry, Condition: "00",
			TerminalID: r.TerminalID, MerchantID: r.MerchantID, Currency: cur,
			PINBlock: r.PINBlock, KSN: r.KSN, ICC: r.ICC, Track2Enc: r.Track2Enc,
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
		v = &a87AdviceRequest{
			MTI: MTIAdvice, ProcessingCode: "000000", Amount: amount, Transmission: de7,
			STAN: stan, LocalTime: de12, LocalDate: de13, EntryMode: entry, Condition: "00",
			Ref: ref, ResponseCode: rc, TerminalID: r.TerminalID, MerchantID: r.MerchantID,
			Currency: cur, KSN: r.KSN, ICC: r.ICC, Track2Enc: r.Track2Enc,
		}
	case KindReversal:
		amount, cur, entry, err := financialFields(r)
		if err != nil {
			return nil, err
		}
		origKind, err := reversalOrig(r.OrigKind)
		if err != nil {
			return nil, err
		}
		voided, err := reversalVoided(origKind, r.VoidedKind)
		if err != nil {
			return nil, err
		}
		codes := a87ReversalCodes(origKind, voided)
		origData, err := a87OrigData(codes.mti, r.OrigSTAN, r.OrigTime)
		if err != nil {
			return nil, err
		}
		if !r.Reason.valid() {
			return nil, fmt.Errorf("%w: reason must be printable ASCII up to %d characters", ErrInvalidRequest, MaxReason)
		}
		mti := MTIReversal
		if r.Repeat {
			mti = MTIReversalRepeat
		}
		v = &a87ReversalRequest{
			MTI: mti, ProcessingCode: codes.proc, Amount: amount, Transmission: de7,
			STAN: stan, LocalTime: de12, LocalDate: de13, EntryMode: entry, Condition: codes.cond,
			TerminalID: r.TerminalID, MerchantID: r.MerchantID, Currency: cur, KSN: r.KSN,
			Reason: string(r.Reason), OriginalData: origData,
		}
	case KindSignOn, KindSignOff, KindEcho:
		v = &a87NetworkRequest{
			MTI: MTINetwork, Transmission: de7, STAN: stan, LocalTime: de12, LocalDate: de13,
			TerminalID: r.TerminalID, NetworkCode: a87NetCodes[r.Kind],
		}
	case KindRefund, KindPreauth, KindBalance, KindVoid, KindCompletion, KindSettlement, KindBatchUpload:
		return ascii87Codec{}.encodeKind(r, stan, de7, de12, de13)
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupported, r.Kind)
	}
	return marshal(ascii87Spec, v)
}

func (c ascii87Codec) decodeRequest(m *iso8583.Message, mti string) (Request, error) {
	var r Request
	switch mti {
	case MTIPurchase, MTIAuthorization, MTIAdvice, MTISettlement, MTIBatchUpload:
		kind, err := a87RequestKind(m, mti)
		if err != nil {
			return r, err
		}
		if kind != KindPurchase && kind != KindAdvice {
			return c.decodeKind(m, kind)
		}
	}
	switch mti {
	case MTIPurchase:
		var v a87PurchaseRequest
		if err := unmarshal(m, &v); err != nil {
			return r, err
		}
		r = Request{
			Kind: KindPurchase, TerminalID: v.TerminalID, MerchantID: v.MerchantID, Currency: v.Currency,
			EntryMode: v.EntryMode, KSN: v.KSN, Mode: modeOfKSN(v.KSN), Track2Enc: v.Track2Enc,
			PINBlock: v.PINBlock, ICC: v.ICC,
		}
		return r, decodeFinancial(&r, v.STAN, v.Amount)
	case MTIAdvice:
		var v a87AdviceRequest
		if err := unmarshal(m, &v); err != nil {
			return r, err
		}
		r = Request{
			Kind: KindAdvice, TerminalID: v.TerminalID, MerchantID: v.MerchantID, Currency: v.Currency,
			EntryMode: v.EntryMode, KSN: v.KSN, Mode: modeOfKSN(v.KSN), Track2Enc: v.Track2Enc, ICC: v.ICC,
		}
		if err := decodeFinancial(&r, v.STAN, v.Amount); err != nil {
			return r, err
		}
		return r, decodeAdvice(&r, m, v.Ref, v.ResponseCode)
	case MTIReversal, MTIReversalRepeat:
		var v a87ReversalRequest
		if err := unmarshal(m, &v); err != nil {
			return r, err
		}
		r = Request{
			Kind: KindReversal, Repeat: mti == MTIReversalRepeat, TerminalID: v.TerminalID,
			MerchantID: v.MerchantID, Currency: v.Currency, EntryMode: v.EntryMode,
			KSN: v.KSN, Mode: modeOfKSN(v.KSN), Reason: ReversalReason(v.Reason), ReasonCode: v.Reason,
		}
		if err := decodeFinancial(&r, v.STAN, v.Amount); err != nil {
			return r, err
		}
		origMTI, orig, err := parseA87OrigData(v.OriginalData)
		if err != nil {
			return r, err
		}
		r.OrigSTAN = uint32(orig)
		r.OrigRef = v.OriginalData
		proc := v.ProcessingCode
		if proc == "" {
			proc = ProcGoods
		}
		if r.OrigKind, r.VoidedKind = a87ReversalKind(origMTI, proc, v.Condition); r.OrigKind == "" {
			return r, fmt.Errorf("%w: reversal of a %s with processing code %q, POS condition code %q", ErrUnsupported, origMTI, proc, v.Condition)
		}
		return r, nil
	case MTINetwork:
		var v a87NetworkRequest
		if err := unmarshal(m, &v); err != nil {
			return r, err
		}
		r.TerminalID = v.TerminalID
		for k, code := range a87NetCodes {
			if code == v.NetworkCode {
				r.Kind = k
			}
		}
		stan, err := parseNum(v.STAN, 6, "STAN")
		r.STAN = uint32(stan)
		if err != nil {
			return r, err
		}
		if r.Kind == "" {
			return r, fmt.Errorf("%w: network management code %q", ErrUnsupported, v.NetworkCode)
		}
		return r, nil
	}
	return r, fmt.Errorf("%w: MTI %s", ErrUnsupported, mti)
}

func (ascii87Codec) encodeResponse(req *Request, resp *Response) (*iso8583.Message, error) {
	mti := ResponseMTI(req.MTI)
	if mti == "" {
		return nil, fmt.Errorf("%w: request MTI %q", ErrInvalidRequest, req.MTI)
	}
	if err := responseICC(req.Kind, resp.ICC); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	stan, err := fmtNum(int64(req.STAN), 6, "STAN")
	if err != nil {
		return nil, err
	}
	de7, de12, de13 := a87Times(resp.Time)
	var v any
	switch req.Kind {
	case KindPurchase:
		amount, cur, _, err := financialFields(req)
		if err != nil {
			return nil, err
		}
		v = &a87PurchaseResponse{
			MTI: mti, ProcessingCode: "000000", Amount: amount, Transmission: de7, STAN: stan,
			LocalTime: de12, LocalDate: de13, RRN: resp.RRN, AuthCode: resp.AuthCode,
			ResponseCode: resp.ResponseCode, TerminalID: req.TerminalID, MerchantID: req.MerchantID, Currency: cur,
			ICC: resp.ICC,
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
		v = &a87AdviceResponse{
			MTI: mti, ProcessingCode: "000000", Amount: amount, Transmission: de7, STAN: stan,
			Ref: ref, ResponseCode: resp.ResponseCode, TerminalID: req.TerminalID,
			MerchantID: req.MerchantID, Currency: cur,
		}
	case KindReversal:
		amount, cur, _, err := financialFields(req)
		if err != nil {
			return nil, err
		}
		v = &a87ReversalResponse{
			MTI: mti, ProcessingCode: a87ReversalCodes(orKind(req.OrigKind), req.VoidedKind).proc, Amount: amount, Transmission: de7, STAN: stan,
			ResponseCode: resp.ResponseCode, TerminalID: req.TerminalID, MerchantID: req.MerchantID,
			Currency: cur, OriginalData: req.OrigRef,
		}
	case KindSignOn, KindSignOff, KindEcho:
		v = &a87NetworkResponse{
			MTI: mti, Transmission: de7, STAN: stan, ResponseCode: resp.ResponseCode,
			TerminalID: req.TerminalID, NetworkCode: a87NetCodes[req.Kind],
		}
	case KindRefund, KindPreauth, KindBalance, KindVoid, KindCompletion, KindSettlement, KindBatchUpload:
		return ascii87Codec{}.encodeKindResponse(req, resp, mti, stan, de7, de12, de13)
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupported, req.Kind)
	}
	return marshal(ascii87Spec, v)
}

func (c ascii87Codec) decodeResponse(m *iso8583.Message, mti string) (Response, error) {
	var r Response
	var stan, amount string
	switch mti {
	case MTIPurchaseResponse, MTIAuthorizationResponse, MTIAdviceResponse, MTISettlementResponse, MTIBatchUploadResponse:
		kind, err := a87ResponseKind(m, mti)
		if err != nil {
			return r, err
		}
		if kind != KindPurchase && kind != KindAdvice {
			r, stan, amount, err := c.decodeKindResponse(m, kind)
			if err != nil {
				return r, err
			}
			return r, decodeResponseNumbers(&r, stan, amount)
		}
	}
	switch mti {
	case MTIPurchaseResponse:
		var v a87PurchaseResponse
		if err := unmarshal(m, &v); err != nil {
			return r, err
		}
		r = Response{Kind: KindPurchase, TerminalID: v.TerminalID, ResponseCode: v.ResponseCode, AuthCode: v.AuthCode, RRN: v.RRN, ICC: v.ICC}
		if err := responseICC(r.Kind, r.ICC); err != nil {
			return r, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		stan, amount = v.STAN, v.Amount
	case MTIAdviceResponse:
		var v a87AdviceResponse
		if err := unmarshal(m, &v); err != nil {
			return r, err
		}
		r = Response{Kind: KindAdvice, TerminalID: v.TerminalID, ResponseCode: v.ResponseCode}
		if err := decodeAdviceRef(&r, v.Ref); err != nil {
			return r, err
		}
		stan, amount = v.STAN, v.Amount
	case MTIReversalResponse:
		var v a87ReversalResponse
		if err := unmarshal(m, &v); err != nil {
			return r, err
		}
		r = Response{Kind: KindReversal, TerminalID: v.TerminalID, ResponseCode: v.ResponseCode}
		stan, amount = v.STAN, v.Amount
	case MTINetworkResponse:
		var v a87NetworkResponse
		if err := unmarshal(m, &v); err != nil {
			return r, err
		}
		r = Response{TerminalID: v.TerminalID, ResponseCode: v.ResponseCode}
		for k, code := range a87NetCodes {
			if code == v.NetworkCode {
				r.Kind = k
			}
		}
		stan = v.STAN
	default:
		return r, fmt.Errorf("%w: MTI %s", ErrUnsupported, mti)
	}
	return r, decodeResponseNumbers(&r, stan, amount)
}

func (ascii87Codec) echoes() []int { return []int{DESTAN, DETerminalID} }

// ASCII87's settlement totals: DE74/DE76 n10, DE86/DE88 n16.
const (
	a87CountDigits  = 10
	a87AmountDigits = 16
)

func (ascii87Codec) totalsDigits() (count, amount int) { return a87CountDigits, a87AmountDigits }
