package emv

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"posd/conn/apdu"
	cemv "posd/crypto/emv"
)

// Trace is a recorded kernel run: the interface, the terminal values the
// kernel used, the CA keys it looked up and every APDU exchange, in the
// JSON of the README ("posctl emv replay").
type Trace struct {
	// Comment says where a trace came from (free text, ignored by Replay).
	Comment   string            `json:"comment,omitempty"`
	Interface string            `json:"interface"`
	Terminal  map[string]string `json:"terminal"`
	CAKeys    []TraceCAKey      `json:"ca_keys"`
	Exchanges []Exchange        `json:"exchanges"`
}

// TraceCAKey is a CA public key of a trace (its checksum is computed).
type TraceCAKey struct {
	RID      string `json:"rid"`
	Index    string `json:"index"`
	Modulus  string `json:"modulus"`
	Exponent string `json:"exponent"`
}

// Exchange is one command APDU and the card's response, in hex.
type Exchange struct {
	C string `json:"c"`
	R string `json:"r"`
}

// posd's proprietary terminal value of a trace: the transaction's flags.
const tagTxnFlags tag = 0xDFE003 // 01: host reachable, 02: merchant forced online

// traceValueLen are the lengths a trace's terminal values must have.
var traceValueLen = map[tag]int{
	0x9F02: 6, 0x9F03: 6, 0x81: 4, 0x9F04: 4, 0x5F2A: 2, 0x5F36: 1, 0x9A: 3, 0x9F21: 3,
	0x9C: 1, 0x9F37: 4, 0x9F1A: 2, 0x9F33: 3, 0x9F40: 5, 0x9F35: 1, 0x9F41: 4, 0x9F39: 1,
	0x9F15: 2, 0x9F09: 2, 0x9F66: 4, 0x9F1B: 4, 0x8A: 2,
	0xDF8120: 5, 0xDF8121: 5, 0xDF8122: 5, 0xDF8123: 6, 0xDF8124: 6, 0xDF8125: 6, 0xDF8126: 6,
	tagRandomDraw: 1, tagHostDecision: 1, tagTxnFlags: 1,
}

// recordable are the terminal values a Recorder keeps: the kernel's
// inputs, not what it computes (TVR, TSI, CVM results).
var recordable = map[tag]bool{0x9F1E: true, 0x9F1C: true, 0x9F16: true, 0x9F4E: true, 0x9F01: true,
	0x9F06: true, 0x91: true, 0x71: true, 0x72: true}

func init() {
	for t := range traceValueLen {
		recordable[t] = true
	}
}

// traceSink is implemented by Recorder: the kernel reports the terminal
// values and CA keys it used when its card is a Recorder.
type traceSink interface {
	recordTerminal(map[tag][]byte)
	recordCAPK(cemv.CAPK)
}

// Recorder is an apdu.Transceiver that passes every exchange to a card
// and records it. A kernel run on a Recorder also reports the terminal
// values and CA keys it used, so that Trace makes a replayable trace. A
// trace holds the card's data in clear (PAN, track 2, and the PIN block
// of a plaintext offline PIN): record test cards only.
type Recorder struct {
	card  apdu.Transceiver
	iface Interface
	mu    sync.Mutex
	ex    []Exchange
	term  map[tag][]byte
	keys  map[string]TraceCAKey
}

// NewRecorder records the exchanges with card on iface.
func NewRecorder(card apdu.Transceiver, iface Interface) *Recorder {
	return &Recorder{card: card, iface: iface, term: map[tag][]byte{}, keys: map[string]TraceCAKey{}}
}

// Transmit passes the command to the card and records the exchange when
// the card answered.
func (r *Recorder) Transmit(ctx context.Context, c []byte) ([]byte, error) {
	resp, err := r.card.Transmit(ctx, c)
	if err == nil {
		r.mu.Lock()
		r.ex = append(r.ex, Exchange{C: upper(c), R: upper(resp)})
		r.mu.Unlock()
	}
	return resp, err
}

func (r *Recorder) recordTerminal(m map[tag][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for t, v := range m {
		if recordable[t] {
			r.term[t] = bytes.Clone(v)
		}
	}
}

func (r *Recorder) recordCAPK(k cemv.CAPK) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys[fmt.Sprintf("%X%02X", k.RID, k.Index)] = TraceCAKey{RID: upper(k.RID[:]), Index: upper([]byte{k.Index}),
		Modulus: upper(k.Modulus), Exponent: upper(k.Exponent)}
}

// Trace returns what was recorded so far.
func (r *Recorder) Trace() *Trace {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := &Trace{Interface: r.iface.String(), Terminal: map[string]string{}, CAKeys: []TraceCAKey{},
		Exchanges: append([]Exchange{}, r.ex...)}
	for k, v := range r.term {
		t.Terminal[k.String()] = upper(v)
	}
	ids := make([]string, 0, len(r.keys))
	for id := range r.keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		t.CAKeys = append(t.CAKeys, r.keys[id])
	}
	return t
}

// Marshal encodes the trace as indented JSON with a final newline.
func (t *Trace) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTrace, err)
	}
	return append(b, '\n'), nil
}

// maxExchanges bounds a trace.
const maxExchanges = 10000

// ParseTrace reads a trace file and checks every field: the interface,
// terminal values as hex under valid tags (with the lengths of the
// values the kernel reads), CA keys, and exchanges of hex commands (at
// least a header) and responses (at least a status word).
func ParseTrace(data []byte) (*Trace, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var t Trace
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTrace, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrTrace)
	}
	if _, err := t.iface(); err != nil {
		return nil, err
	}
	if _, err := t.terminalValues(); err != nil {
		return nil, err
	}
	if _, err := t.capks(); err != nil {
		return nil, err
	}
	if len(t.Exchanges) > maxExchanges {
		return nil, fmt.Errorf("%w: more than %d exchanges", ErrTrace, maxExchanges)
	}
	for i, e := range t.Exchanges {
		c, err1 := hex.DecodeString(e.C)
		r, err2 := hex.DecodeString(e.R)
		if err1 != nil || err2 != nil || len(c) < 4 || len(r) < 2 {
			return nil, fmt.Errorf("%w: exchange %d is not a hex command and response", ErrTrace, i)
		}
	}
	return &t, nil
}

func (t *Trace) iface() (Interface, error) {
	switch t.Interface {
	case "contact":
		return Contact, nil
	case "contactless":
		return Contactless, nil
	}
	return 0, fmt.Errorf("%w: interface %q (contact or contactless)", ErrTrace, t.Interface)
}

func (t *Trace) terminalValues() (map[tag][]byte, error) {
	out := map[tag][]byte{}
	for k, v := range t.Terminal {
		tg, err := parseTag(k)
		if err != nil || !bytes.Equal(tg.bytes(), mustHex(k)) || !validTag(tg.bytes()) {
			return nil, fmt.Errorf("%w: terminal tag %q", ErrTrace, k)
		}
		b, err := hex.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("%w: terminal value %s is not hex", ErrTrace, k)
		}
		if n, ok := traceValueLen[tg]; ok && len(b) != n {
			return nil, fmt.Errorf("%w: terminal value %s is %d bytes, want %d", ErrTrace, k, len(b), n)
		}
		out[tg] = b
	}
	return out, nil
}

// validTag reports whether b is one well-formed BER tag.
func validTag(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	if b[0]&0x1F != 0x1F {
		return len(b) == 1
	}
	if len(b) < 2 || b[len(b)-1]&0x80 != 0 {
		return false
	}
	for _, x := range b[1 : len(b)-1] {
		if x&0x80 == 0 {
			return false
		}
	}
	return true
}

func mustHex(s string) []byte {
	b, _ := hex.DecodeString(s)
	return b
}

func (t *Trace) capks() ([]cemv.CAPK, error) {
	var out []cemv.CAPK
	for i, k := range t.CAKeys {
		rid, e1 := hex.DecodeString(k.RID)
		idx, e2 := hex.DecodeString(k.Index)
		mod, e3 := hex.DecodeString(k.Modulus)
		exp, e4 := hex.DecodeString(k.Exponent)
		if e1 != nil || e2 != nil || e3 != nil || e4 != nil || len(rid) != 5 || len(idx) != 1 {
			return nil, fmt.Errorf("%w: ca_keys[%d]", ErrTrace, i)
		}
		c := cemv.CAPK{Index: idx[0], PublicKey: cemv.PublicKey{Modulus: mod, Exponent: exp}, HashAlgorithm: cemv.HashSHA1}
		copy(c.RID[:], rid)
		c.Checksum = c.ComputeChecksum()
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("%w: ca_keys[%d]: %w", ErrTrace, i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// ReplayCard answers the kernel with a trace's responses, as long as each
// command equals the recorded one byte for byte; otherwise it fails with
// a *Divergence (and keeps failing).
type ReplayCard struct {
	ex  [][2][]byte
	pos int
	err error
}

// Card returns a replaying card for the trace.
func (t *Trace) Card() *ReplayCard {
	rc := &ReplayCard{}
	for _, e := range t.Exchanges {
		rc.ex = append(rc.ex, [2][]byte{mustHex(e.C), mustHex(e.R)})
	}
	return rc
}

// Transmit answers c with the recorded response.
func (rc *ReplayCard) Transmit(_ context.Context, c []byte) ([]byte, error) {
	if rc.err != nil {
		return nil, rc.err
	}
	if rc.pos >= len(rc.ex) {
		rc.err = &Divergence{Index: rc.pos, Got: bytes.Clone(c), Exhausted: true}
		return nil, rc.err
	}
	e := rc.ex[rc.pos]
	if !bytes.Equal(c, e[0]) {
		rc.err = &Divergence{Index: rc.pos, Want: bytes.Clone(e[0]), Got: bytes.Clone(c)}
		return nil, rc.err
	}
	rc.pos++
	return bytes.Clone(e[1]), nil
}

// Remaining returns how many recorded exchanges the kernel has not made.
func (rc *ReplayCard) Remaining() int { return len(rc.ex) - rc.pos }

// next returns the next recorded command, or nil.
func (rc *ReplayCard) next() []byte {
	if rc.pos < len(rc.ex) {
		return rc.ex[rc.pos][0]
	}
	return nil
}

// ReplayResult is what "posctl emv replay" prints.
type ReplayResult struct {
	Outcome        string `json:"outcome"`
	Reason         string `json:"reason,omitempty"`
	TVR            string `json:"tvr"`
	TSI            string `json:"tsi"`
	CVMResults     string `json:"cvm_results"`
	CryptogramType string `json:"cryptogram_type"`
	AID            string `json:"aid"`
	DE55           string `json:"de55"`
	Error          string `json:"error,omitempty"`
}

// Replay runs the kernel against a trace: the transaction is the trace's
// (9F02, 9F03, 5F2A, 9C, 9A, 9F21, 9F41 and posd's DFE003 flags), its
// terminal values override cfg's (TACs DF8120-DF8122, floor limit 9F1B,
// contactless limits DF8123-DF8126, 9F09, 9F33, 9F35, 9F40, 9F66, the
// unpredictable number 9F37 and the random selection draw DFE001), its
// CA keys are added, and the card answers with the recorded responses.
// When the trace holds the host's decision (DFE002, with 8A, 91, 71 and
// 72), an online request is completed with it. Cardholder selection
// picks the application the trace selects next; an offline PIN prompt
// gets the plaintext PIN block of the trace's next VERIFY (an enciphered
// PIN cannot be replayed); online PIN is taken as entered. A command
// other than the recorded one, or exchanges left over, is reported in
// Error.
func Replay(ctx context.Context, cfg Config, t *Trace, o Opts) ReplayResult {
	res := ReplayResult{}
	iface, err := t.iface()
	if err != nil {
		res.Error = err.Error()
		return res
	}
	over, err := t.terminalValues()
	if err != nil {
		res.Error = err.Error()
		return res
	}
	keys, err := t.capks()
	if err != nil {
		res.Error = err.Error()
		return res
	}
	c := cfg.clone()
	c.capks = cemv.NewCAPKStore() // the trace's keys stay out of the caller's store
	if err := c.AddCAPKs(append(cfg.CAPKs(), keys...)...); err != nil {
		res.Error = err.Error()
		return res
	}
	txn := Txn{Type: TypePurchase, HostReachable: true}
	if v, ok := over[0x9F02]; ok {
		txn.Amount, _ = bcdValue(v)
	}
	if v, ok := over[0x9F03]; ok {
		txn.OtherAmount, _ = bcdValue(v)
	}
	if v, ok := over[0x5F2A]; ok {
		txn.Currency = nibbles(v)[1:]
	}
	if v, ok := over[0x9C]; ok {
		txn.Type = v[0]
	}
	if v, ok := over[0x9F41]; ok {
		n, _ := bcdValue(v)
		txn.SequenceCounter = uint32(n)
	}
	if v, ok := over[tagTxnFlags]; ok {
		txn.HostReachable = v[0]&0x01 != 0
		txn.ForceOnline = v[0]&0x02 != 0
	}
	txn.Date = traceDate(over[0x9A], over[0x9F21])
	k := New(*c, o)
	card := t.Card()
	s, err := k.start(ctx, card, iface, txn, &replayUI{card: card}, over)
	if s != nil {
		if dec, ok := over[tagHostDecision]; ok && err == nil && s.Outcome() == OutcomeOnlineRequest {
			hr := HostResponse{Responded: dec[0] != 0, Approved: dec[0] == 1, IssuerAuthData: over[0x91]}
			copy(hr.ARC[:], over[0x8A])
			hr.Scripts71 = splitTemplates(over[0x71])
			hr.Scripts72 = splitTemplates(over[0x72])
			_, err = s.Complete(ctx, hr)
		}
		sum := s.Summary()
		res.Outcome, res.Reason, res.TVR, res.TSI = sum.Outcome, sum.Reason, sum.TVR, sum.TSI
		res.CVMResults, res.CryptogramType, res.AID = sum.CVMResults, sum.Cryptogram, sum.AID
		res.DE55 = upper(s.OnlineData())
		s.Wipe()
	}
	var d *Divergence
	switch {
	case errors.As(err, &d):
		res.Error = d.Error()
	case card.Remaining() > 0:
		d = &Divergence{Index: card.pos, Want: card.next()}
		res.Error = fmt.Sprintf("%v: exchange %d: the kernel stopped, %d recorded exchanges left (next %s)",
			ErrDiverged, card.pos, card.Remaining(), safeAPDU(d.Want))
	case err != nil && res.Outcome == "":
		res.Error = err.Error()
	}
	return res
}

// traceDate rebuilds the transaction date from 9A and 9F21 (UTC).
func traceDate(d, tm []byte) time.Time {
	dv, ok := yymmdd(d)
	if !ok {
		return time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	h, m, s := 0, 0, 0
	if v, ok := bcdValue(tm); ok && len(tm) == 3 {
		h, m, s = int(v/10000), int(v/100%100), int(v%100)
	}
	return time.Date(dv/10000, time.Month(dv/100%100), dv%100, h, m, s, 0, time.UTC)
}

// splitTemplates splits concatenated script templates.
func splitTemplates(b []byte) [][]byte {
	if len(b) == 0 {
		return nil
	}
	if _, err := decodeTLV(b); err != nil {
		return [][]byte{b}
	}
	objs, err := rawObjects(b)
	if err != nil {
		return [][]byte{b}
	}
	return objs
}

// replayUI answers the kernel's prompts from the trace.
type replayUI struct{ card *ReplayCard }

func (u *replayUI) Select(_ context.Context, c []Candidate) (int, error) {
	for i := u.card.pos; i < len(u.card.ex); i++ {
		cmd := u.card.ex[i][0]
		if len(cmd) > 5 && cmd[1] == 0xA4 && len(cmd) >= 5+int(cmd[4]) {
			name := cmd[5 : 5+int(cmd[4])]
			for j, x := range c {
				if bytes.Equal(name, x.AID) {
					return j, nil
				}
			}
			break
		}
	}
	return 0, nil
}

func (u *replayUI) Message(context.Context, Message) {}

func (u *replayUI) OfflinePIN(_ context.Context, r OfflinePINRequest) ([]byte, error) {
	cmd := u.card.next()
	if !r.Enciphered && len(cmd) == 13 && bytes.Equal(cmd[:5], []byte{0x00, 0x20, 0x00, 0x80, 0x08}) {
		return bytes.Clone(cmd[5:]), nil
	}
	return nil, ErrPINBypass
}

// recordHost keeps the host's answer among the terminal values, so that a
// recorded trace can replay Complete.
func (st *txnState) recordHost(r HostResponse) {
	dec := byte(0)
	if r.Responded {
		dec = 2
		if r.Approved {
			dec = 1
		}
	}
	st.term[tagHostDecision] = []byte{dec}
	if r.Responded {
		st.term[0x8A] = []byte{r.ARC[0], r.ARC[1]}
		if r.IssuerAuthData != nil {
			st.term[0x91] = bytes.Clone(r.IssuerAuthData)
		}
		if len(r.Scripts71) > 0 {
			st.term[0x71] = bytes.Join(r.Scripts71, nil)
		}
		if len(r.Scripts72) > 0 {
			st.term[0x72] = bytes.Join(r.Scripts72, nil)
		}
	}
}

func upper(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }
