package host

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/moov-io/iso8583"
	isoerrors "github.com/moov-io/iso8583/errors"

	"posd/terminal/wiresec"
)

// A Dialect is one way of speaking ISO 8583 to an acquirer, as data: its
// name, its message spec, its framing, how each message posd sends or
// receives maps onto data elements, and what a repeated reversal looks
// like. The terminal client and the acquirer simulator both take their
// dialect from here, so the two sides cannot drift apart.
//
// The dialects are ASCII87 ("ascii87", the default) and CUP ("cup"); each
// one's doc comment says what its host expects.
type Dialect struct {
	// Name selects the dialect in configuration (host.dialect).
	Name string
	// Spec is the iso8583 message spec.
	Spec *iso8583.MessageSpec
	// Framing is what surrounds every message on the wire.
	Framing Framing

	codec codec
}

// Framing describes what travels before each message: a 2-byte big-endian
// length header counting every byte after it, then the TPDU (when
// configured or required), then the message header (when the dialect has
// one), then the packed ISO message. The MAC covers the ISO message only.
type Framing struct {
	// TPDURequired: the dialect always sends a TPDU; DefaultTPDU is used
	// when none is configured.
	TPDURequired bool
	// DefaultTPDU is the TPDU sent when none is configured (nil: none).
	DefaultTPDU []byte
	// Header is the message header the terminal sends after the TPDU
	// (nil: none). The host answers with a header of the same length and
	// the same first byte (application type); the other bytes are
	// information from the host and are not checked.
	Header []byte
}

// Kind is what a message does, whatever MTI a dialect gives it.
type Kind string

// Message kinds (KindAdvice, the 0220, is in advice.go; refunds, voids,
// pre-authorizations, completions, balance inquiries and the batch close
// are in kinds.go). A dialect answers ErrUnsupported for kinds it does not
// map.
const (
	KindPurchase Kind = "purchase"
	KindReversal Kind = "reversal"
	KindSignOn   Kind = "sign_on"
	KindSignOff  Kind = "sign_off"
	KindEcho     Kind = "echo"
)

// ReversalReason says why a financial request is reversed. Dialects put it
// on the wire in their own way (ASCII87: this text in DE60; CUP: a DE39
// code). Any other short printable text is accepted as a terminal-side
// reason of its own (CUP code "06").
type ReversalReason string

// Reversal reasons.
const (
	// ReasonNoResponse: no reply within the response timeout (CUP 98).
	ReasonNoResponse ReversalReason = "no response"
	// ReasonMACFailure: the reply's MAC did not verify (CUP A0).
	ReasonMACFailure ReversalReason = "response MAC failed"
	// ReasonBadResponse: a reply arrived but was malformed or did not
	// match the request (CUP 06).
	ReasonBadResponse ReversalReason = "bad response"
	// ReasonCardRemoved: the card left the reader before the transaction
	// completed (CUP 06).
	ReasonCardRemoved ReversalReason = "card removed"
	// ReasonTerminalCancel: the cashier or the terminal cancelled after
	// the request went out (CUP 06).
	ReasonTerminalCancel ReversalReason = "cancelled at the terminal"
	// ReasonCustomerCancel: the customer cancelled after the request went
	// out (CUP 06).
	ReasonCustomerCancel ReversalReason = "cancelled by the customer"
	// ReasonOther is what a decoder reports for a code that names none of
	// the reasons above (e.g. CUP 06).
	ReasonOther ReversalReason = "other"
)

// MaxReason is the longest reversal reason text.
const MaxReason = 60

func (r ReversalReason) valid() bool { return len(r) <= MaxReason && isPrintable(string(r)) }

// Request is a request in dialect-neutral form: what the client encodes and
// what the acquirer simulator decodes. Times and the original of a reversal
// travel year-less or not at all, so decoders leave Time and OrigTime zero
// and report the original as the wire identifies it (OrigRef).
type Request struct {
	Kind Kind
	// Repeat marks the second and later attempts of a reversal. ASCII87
	// sends them as 0401; CUP sends them like the first.
	Repeat bool
	// MTI is set by DecodeRequest; EncodeRequest derives it.
	MTI  string
	STAN uint32
	// Time is when the request was made (ASCII87: DE7 in UTC, DE12/DE13
	// local); zero means not sent.
	Time       time.Time
	TerminalID string // DE41, 8 characters (space-padded by the client)
	MerchantID string // DE42, 15 characters
	Amount     int64  // minor units
	Currency   string // ISO 4217 numeric
	EntryMode  string // DE22, 3 digits
	// Batch is the batch number (CUP DE60.2); 0 until batches are kept.
	Batch uint32
	// Mode is the DUKPT flavour of KSN and PIN block (CUP states it in
	// DE53); empty: not stated.
	Mode      wiresec.Mode
	KSN       []byte
	Track2Enc []byte // track 2, encrypted under the message's data key
	PINBlock  []byte
	ICC       []byte

	// Ref is the terminal's reference of the transaction (DE37 of an
	// advice): 1 to MaxRef digits or letters. On the wire it is
	// left-justified and space-padded to 12 characters, the ISO 8583 rule
	// for fixed an fields, in both dialects; decoders give it back without
	// the padding.
	Ref string
	// ResponseCode is DE39 of an advice: the terminal's decision,
	// OfflineApproved ("Y1"). Two digits or letters.
	ResponseCode string

	// Reversal: the original request and why it is reversed.
	OrigSTAN uint32
	OrigTime time.Time
	// OrigKSN is the KSN of the original request: the reference to the
	// card data the host received then (CUP DE62 of the 0400).
	OrigKSN []byte
	Reason  ReversalReason
	// ReasonCode is the reason as on the wire (decoded only).
	ReasonCode string
	// OrigRef is the original as the wire identifies it (decoded only):
	// equal for every attempt at reversing one original.
	OrigRef string
	// OrigKind is the kind of the original of a reversal, void,
	// completion, refund or upload (KindPurchase when empty).
	OrigKind Kind
	// VoidedKind is, in a reversal of a void (OrigKind KindVoid), what
	// that void voided: KindPurchase (also when empty), KindRefund,
	// KindCompletion or KindPreauth. The reversal resends the void's
	// codes, which depend on it (see each dialect's table); it is empty
	// in every other request. Decoders give it back from those codes:
	// cup always; ascii87 sends the void of a sale and the void of a
	// completion alike (0200, DE3 "020000", DE25 "00") and gives it
	// empty for both.
	VoidedKind Kind
	// OrigRRN and OrigAuthCode are the host's answer to the original
	// (void, completion, refund when known, upload): 1 to 12 and 1 to 6
	// digits or letters, space-padded on the wire (fixed an fields),
	// given back without the padding; empty when not sent.
	OrigRRN      string
	OrigAuthCode string
	// OrigBatch is the original's batch number (cup 61.1 of a void,
	// completion, refund or upload; ascii87 does not send it).
	OrigBatch uint32

	// Totals are a settlement's (KindSettlement), in Currency;
	// AfterUpload marks the one sent after a batch upload.
	Totals      Totals
	AfterUpload bool
	// UploadCount is how many transactions were uploaded before a
	// settlement with AfterUpload: cup sends it (DE48 of the 0320 that
	// ends the upload) instead of the totals, and its decoder gives it
	// back with Totals zero. Client.Settle sets it to the totals' debit
	// and credit counts added up; ascii87 does not send it.
	UploadCount int
}

// Response is a response in dialect-neutral form.
type Response struct {
	Kind Kind
	// MTI is set by DecodeResponse; EncodeResponse derives it from the
	// request's.
	MTI        string
	STAN       uint32
	TerminalID string
	// Amount is DE4 when HasAmount.
	Amount       int64
	HasAmount    bool
	ResponseCode string // DE39
	AuthCode     string // DE38, empty when absent
	RRN          string // DE37, empty when absent (purchase answers)
	// Ref is DE37 of an advice's answer: the advice's Ref echoed, without
	// its padding (decoded only; EncodeResponse echoes the request's).
	// Empty when absent.
	Ref string
	// ICC is DE55 of a purchase response: the issuer's data for the card
	// (see ParseIssuerData); nil when absent.
	ICC []byte
	// Balance is DE54 of a balance inquiry's answer, when HasBalance.
	Balance         int64
	BalanceCurrency string
	HasBalance      bool
	// Time is the host's time of the answer (encoded only).
	Time time.Time
	// UpdateWaiting is the notice "an update waits at the TMS" (DE62 of
	// any response; see notice.go).
	UpdateWaiting bool
}

// codec is how a dialect maps neutral messages onto its typed message
// structs (which iso8583.Message.Marshal/Unmarshal pack by their index
// tags).
type codec interface {
	encodeRequest(r *Request) (*iso8583.Message, error)
	decodeRequest(m *iso8583.Message, mti string) (Request, error)
	encodeResponse(req *Request, resp *Response) (*iso8583.Message, error)
	decodeResponse(m *iso8583.Message, mti string) (Response, error)
	// echoes: the fields a rejection of an undecodable request copies.
	echoes() []int
	// totalsDigits: the digits of a settlement's counts and amounts
	// (each side's), the fields its totals are formatted into.
	totalsDigits() (count, amount int)
}

// The dialects, by name.
var dialects = map[string]*Dialect{}

func register(d *Dialect) *Dialect {
	dialects[d.Name] = d
	return d
}

// DefaultDialect is the dialect of an empty name.
const DefaultDialect = "ascii87"

// LookupDialect returns the dialect called name; "" is DefaultDialect.
func LookupDialect(name string) (*Dialect, error) {
	if name == "" {
		name = DefaultDialect
	}
	d, ok := dialects[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (known: %v)", ErrUnknownDialect, name, DialectNames())
	}
	return d, nil
}

// DialectNames lists the dialects' names, sorted.
func DialectNames() []string {
	names := make([]string, 0, len(dialects))
	for n := range dialects {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (d *Dialect) String() string { return d.Name }

// EncodeRequest builds the message of r (without its MAC; see Seal).
// Errors match ErrInvalidRequest (or ErrUnsupported) and never carry card
// data.
func (d *Dialect) EncodeRequest(r Request) (*iso8583.Message, error) {
	return d.codec.encodeRequest(&r)
}

// DecodeRequest reads a request message (as accepted by Decode). Errors
// match ErrMalformed or ErrUnsupported; the Request then still carries
// what could be read (MTI at least).
func (d *Dialect) DecodeRequest(m *iso8583.Message) (Request, error) {
	mti, err := m.GetMTI()
	if err != nil || !isDigits(mti, 4) {
		return Request{}, fmt.Errorf("%w: MTI", ErrMalformed)
	}
	r, err := d.codec.decodeRequest(m, mti)
	r.MTI = mti
	return r, err
}

// EncodeResponse builds the answer to req (without its MAC; see Seal).
func (d *Dialect) EncodeResponse(req Request, resp Response) (*iso8583.Message, error) {
	m, err := d.codec.encodeResponse(&req, &resp)
	if err != nil {
		return nil, err
	}
	if n := (Notices{UpdateWaiting: resp.UpdateWaiting}).encode(); n != nil {
		if err := m.BinaryField(DENotices, n); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, safe(err, "setting the notices"))
		}
		if _, err := m.Pack(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, safe(err, "message with notices does not pack"))
		}
	}
	return m, nil
}

// DecodeResponse reads a response message. Call it only after the MAC
// verified (SplitMAC): nothing of a response is read before. Errors match
// ErrMalformed or ErrUnsupported.
func (d *Dialect) DecodeResponse(m *iso8583.Message) (Response, error) {
	mti, err := m.GetMTI()
	if err != nil || !isDigits(mti, 4) {
		return Response{}, fmt.Errorf("%w: MTI", ErrMalformed)
	}
	r, err := d.codec.decodeResponse(m, mti)
	r.MTI = mti
	if err != nil {
		return r, err
	}
	if raw, _ := m.GetBytes(DENotices); len(raw) > 0 {
		n, err := ParseNotices(raw)
		if err != nil {
			return r, err
		}
		r.UpdateWaiting = n.UpdateWaiting
	}
	return r, nil
}

// EncodeReject answers a request that could not be decoded or is not
// supported: its response MTI, the request's STAN and terminal id (and
// what else the dialect echoes) and response code rc.
func (d *Dialect) EncodeReject(req *iso8583.Message, rc string) (*iso8583.Message, error) {
	mti, _ := req.GetMTI()
	rmti := ResponseMTI(mti)
	if rmti == "" {
		return nil, fmt.Errorf("%w: not a request MTI", ErrMalformed)
	}
	m := iso8583.NewMessage(d.Spec)
	m.MTI(rmti)
	for _, id := range d.codec.echoes() {
		f := req.GetField(id)
		if f == nil {
			continue
		}
		if v, err := f.Bytes(); err == nil && len(v) > 0 {
			if err := m.BinaryField(id, v); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, safe(err, "field %d", id))
			}
		}
	}
	if err := m.Field(DEResponseCode, rc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, safe(err, "response code"))
	}
	if _, err := m.Pack(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, safe(err, "reject does not pack"))
	}
	return m, nil
}

// MatchKey pairs a response with its request: the request class of the MTI
// (response and repeat digits cleared: 0210 and 0200 give 0200, 0401 and
// 0410 give 0400), DE11 and DE41. The connection reads only these three to
// route a reply.
func (d *Dialect) MatchKey(m *iso8583.Message) (string, error) {
	mti, err := m.GetMTI()
	if err != nil || !isDigits(mti, 4) {
		return "", fmt.Errorf("%w: MTI", ErrMalformed)
	}
	stan, _ := m.GetString(DESTAN)
	if stan == "" {
		return "", fmt.Errorf("%w: no STAN", ErrMalformed)
	}
	tid, _ := m.GetString(DETerminalID)
	b := []byte(mti)
	b[2] &^= 1 // 0210 -> 0200, 0410 -> 0400, 0830 -> 0820
	b[3] &^= 1 // 0401 -> 0400 (repeat)
	return string(b) + "/" + stan + "/" + tid, nil
}

// describe gives the log attributes of an unexpected message.
func (d *Dialect) describe(m *iso8583.Message) []any {
	mti, _ := m.GetMTI()
	stan, _ := m.GetString(DESTAN)
	return []any{"mti", mti, "stan", stan}
}

// ResponseMTI returns the response MTI of a request MTI (0200 -> 0210, 0401
// -> 0410), or "" when mti is not a 4-digit request MTI.
func ResponseMTI(mti string) string {
	if !isDigits(mti, 4) || (mti[2]-'0')%2 != 0 {
		return ""
	}
	b := []byte(mti)
	b[2]++
	b[3] = '0' + (b[3]-'0')&^1 // a repeat is answered like the first
	return string(b)
}

// Decode unpacks raw with the dialect's spec and accepts it only if packing
// the result gives back exactly raw. Any message Decode accepts therefore
// has one encoding, which is what the MAC covers. Errors match
// ErrMalformed; their text names at most the field that failed, the
// library's error stays their cause.
func (d *Dialect) Decode(raw []byte) (*iso8583.Message, error) {
	msg := iso8583.NewMessage(d.Spec)
	if err := msg.Unpack(raw); err != nil {
		var ue *isoerrors.UnpackError
		if errors.As(err, &ue) && ue.FieldID != "" {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, safe(err, "field %s does not unpack", ue.FieldID))
		}
		return nil, fmt.Errorf("%w: %w", ErrMalformed, safe(err, "does not unpack"))
	}
	again, err := msg.Pack()
	if err != nil || !bytes.Equal(again, raw) {
		return nil, fmt.Errorf("%w: not in canonical encoding", ErrMalformed)
	}
	return msg, nil
}

// macFieldFor returns the DE that carries the MAC of m: DE128 when a field
// above 64 is set, DE64 otherwise.
func macFieldFor(m *iso8583.Message) int {
	for id := range m.GetFields() {
		if id > 64 && id != DEMAC2 {
			return DEMAC2
		}
	}
	return DEMAC
}

// Seal sets the MAC field of m (DE64, or DE128 when the message has a
// secondary bitmap) to the MAC that mac computes over the packed message
// without its last 8 bytes, and returns the packed message as it will be
// sent.
func (d *Dialect) Seal(m *iso8583.Message, mac func([]byte) ([]byte, error)) ([]byte, error) {
	m.UnsetField(DEMAC)
	m.UnsetField(DEMAC2)
	id := macFieldFor(m)
	if err := m.BinaryField(id, make([]byte, MACLen)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, safe(err, "setting MAC field"))
	}
	packed, err := m.Pack()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, safe(err, "packing"))
	}
	sum, err := mac(packed[:len(packed)-MACLen])
	if err != nil {
		return nil, fmt.Errorf("host: computing MAC: %w", err)
	}
	if len(sum) != MACLen {
		return nil, fmt.Errorf("host: MAC is %d bytes, want %d", len(sum), MACLen)
	}
	if err := m.BinaryField(id, sum); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, safe(err, "setting MAC field"))
	}
	copy(packed[len(packed)-MACLen:], sum)
	return packed, nil
}

// SplitMAC returns the MACed bytes and the MAC of raw, the packed form of m
// (as accepted by Decode). It reads only which fields are present and the
// MAC field. It fails with ErrMalformed when m carries no MAC, two MACs,
// or a MAC in the wrong field for its bitmap.
func (d *Dialect) SplitMAC(m *iso8583.Message, raw []byte) (input, mac []byte, err error) {
	fields := m.GetFields()
	_, has64 := fields[DEMAC]
	_, has128 := fields[DEMAC2]
	want := macFieldFor(m)
	switch {
	case has64 && has128:
		return nil, nil, fmt.Errorf("%w: two MAC fields", ErrMalformed)
	case want == DEMAC && !has64, want == DEMAC2 && !has128:
		return nil, nil, fmt.Errorf("%w: MAC missing", ErrMalformed)
	}
	if len(raw) < MACLen+10 {
		return nil, nil, fmt.Errorf("%w: too short", ErrMalformed)
	}
	v, err := m.GetBytes(want)
	if err != nil || !bytes.Equal(v, raw[len(raw)-MACLen:]) {
		return nil, nil, fmt.Errorf("%w: MAC is not the last field", ErrMalformed)
	}
	return raw[:len(raw)-MACLen], raw[len(raw)-MACLen:], nil
}

// Data element numbers used by posd and the acquirer simulator (not every
// dialect uses every one; see each dialect's table).
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
	DEAdditional48   = 48
	DECurrency       = 49
	DEPINBlock       = 52
	DESecurity       = 53
	DEBalance        = 54 // additional amounts
	DEICC            = 55
	DEPrivateKSN     = 57
	DEReserved60     = 60
	DEOriginalInfo   = 61
	DEPrivate62      = 62
	DEPrivate63      = 63
	DEMAC            = 64
	DENetworkCode    = 70
	DECreditsCount   = 74
	DEDebitsCount    = 76
	DECreditsAmount  = 86
	DEDebitsAmount   = 88
	DEOriginalData   = 90
	DEMAC2           = 128

	// Names of the ASCII87 dialect's uses.
	DEKSN            = DESecurity
	DEReversalReason = DEReserved60
	DEBatchNumber    = DEReserved60 // 0500/0510, 0320/0330
	DETrack2Enc      = DEPrivate62
	DEUploadRef      = DEPrivate63 // 0320/0330

	// DENotices is DE62 of a response in every dialect: the host's
	// notices (notice.go).
	DENotices = DEPrivate62
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
)

// fmtNum formats v as exactly n decimal digits.
func fmtNum(v int64, n int, what string) (string, error) {
	s := strconv.FormatInt(v, 10)
	if v < 0 || len(s) > n {
		return "", fmt.Errorf("%w: %s out of range", ErrInvalidRequest, what)
	}
	for len(s) < n {
		s = "0" + s
	}
	return s, nil
}

// parseNum reads exactly n decimal digits.
func parseNum(s string, n int, what string) (int64, error) {
	if !isDigits(s, n) {
		return 0, fmt.Errorf("%w: %s is not %d digits", ErrMalformed, what, n)
	}
	return strconv.ParseInt(s, 10, 64)
}

// ParseAmount reads a DE4 value (12 digits).
func ParseAmount(s string) (int64, error) { return parseNum(s, 12, "amount") }

// modeOfKSN tells the DUKPT flavour by the KSN's length.
func modeOfKSN(ksn []byte) wiresec.Mode {
	for _, m := range []wiresec.Mode{wiresec.ModeAES, wiresec.ModeTDES} {
		if len(ksn) == m.KSNLen() {
			return m
		}
	}
	return ""
}

func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if (ch < '0' || ch > '9') && (ch < 'A' || ch > 'Z') && (ch < 'a' || ch > 'z') {
			return false
		}
	}
	return true
}

func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7E {
			return false
		}
	}
	return true
}
