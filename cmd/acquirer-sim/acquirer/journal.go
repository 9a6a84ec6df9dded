package acquirer

import (
	"encoding/json"
	"io"
	"sync"
	"time"

	"posd/terminal/host"
)

// Entry is one line of the JSONL journal. Every request seen gets a line
// with direction "in"; every response gets a line with direction "out",
// written just before it is sent (a terminal that has the answer finds it
// journaled); a request deliberately left unanswered (magic amount 91),
// or whose answer could not go out (Fault: a late answer at shutdown, a
// connection the terminal closed; or a reply that failed after its "out"
// line), gets a line with direction "drop". The journal never holds a full PAN or track:
// masked_pan keeps the first 6 and last 4 digits, the rest are '*'.
//
// The "in" line of a financial request (every kind but sign-on, sign-off
// and echo) also carries the response code decided for it, with the RRN
// and auth code of an approval: the lines of kind "advice", direction
// "in" and response_code "00" are the advices the simulator has, and the
// "in" lines in order are what a restarted simulator rebuilds its
// deduplication and its ledger from (Opts.History, ledger.go). A request
// left unanswered by magic amount 91 has no response code there.
type Entry struct {
	Time      time.Time `json:"time"`
	Direction string    `json:"direction"` // "in", "out", "drop"
	// Dialect is the dialect the simulator speaks ("ascii87", "cup").
	Dialect string `json:"dialect"`
	MTI     string `json:"mti"`
	// Kind is what the message does, whatever its MTI in the dialect
	// ("purchase", "advice", "reversal", "sign_on", "sign_off", "echo");
	// empty for messages the dialect does not map.
	Kind         string `json:"kind,omitempty"`
	STAN         string `json:"stan"`
	TerminalID   string `json:"terminal_id"`
	MaskedPAN    string `json:"masked_pan"`
	Amount       int64  `json:"amount"`
	Currency     string `json:"currency,omitempty"`
	ResponseCode string `json:"response_code"`
	// MACOK is set for MACed message types (0200, 0220, 0400 and their
	// responses): whether the request MAC verified. Absent for 0800.
	MACOK    *bool  `json:"mac_ok,omitempty"`
	KSN      string `json:"ksn,omitempty"` // hex; KSNs are not secret
	OrigSTAN string `json:"orig_stan,omitempty"`
	// Ref is DE37 of an advice: the terminal's reference of the
	// transaction (with the terminal id, what advices are deduplicated
	// by).
	Ref string `json:"ref,omitempty"`
	// Duplicate marks a reversal of an original already reversed (a
	// repeat, or the same reversal again after a lost answer) and its
	// answer: the original was not undone a second time. On an advice:
	// the host already had it (same terminal id and ref); it is answered
	// "00" again and its amount is not counted a second time.
	Duplicate bool `json:"duplicate"`
	// Busy marks an advice refused by the rate limit (Opts.AdviceRate)
	// and its answer "91".
	Busy bool `json:"busy,omitempty"`
	// Fault is the fault an approval goes out with (a purchase's magic
	// amount, or one armed by the control endpoint; see fault.go):
	// "drop", "delay", "reset", "garbage", "bad_mac", "late", "duplicate"
	// or "slow", on its "in" line and on its "out" (or "drop") line,
	// whose response_code is the one the host decided.
	Fault string `json:"fault,omitempty"`
	// UpdateHint marks an answer that told the terminal an update waits
	// at its TMS (DE62 notice; the control endpoint's /v1/hints).
	UpdateHint bool `json:"update_hint,omitempty"`
	PINPresent bool `json:"pin_present,omitempty"`
	// PINOK is set when a PIN block was present: whether it opened under
	// the transaction's PIN key and matched the card's PIN. The PIN
	// itself is never journaled.
	PINOK *bool `json:"pin_ok,omitempty"`
	// ARQCOK is set when ICC data (DE55) was present in a purchase:
	// whether the ARQC verified under the issuer's keys for this
	// transaction.
	ARQCOK *bool `json:"arqc_ok,omitempty"`
	// TCOK is set when an advice carried ICC data (DE55): whether its TC
	// verified under the issuer's keys for this transaction.
	TCOK *bool `json:"tc_ok,omitempty"`
	// Scheme is the card's scheme as the deck knows it (when the issuer
	// looked the card up).
	Scheme string `json:"scheme,omitempty"`
	// IssuerData marks an answer carrying DE55 for the card (ARPC), and
	// IssuerScript one whose DE55 holds the issuer script.
	IssuerData   bool `json:"issuer_data,omitempty"`
	IssuerScript bool `json:"issuer_script,omitempty"`

	// The ledger's fields (see ledger.go). Batch is the request's batch
	// number (0: none on the wire). RRN and AuthCode are the host's
	// answer to an approved financial request (on its "in" line too, the
	// host's decision, from which a restarted simulator rebuilds its
	// ledger). OrigKind, OrigRRN and OrigAuthCode name the original of a
	// reversal, void, completion, refund or batch upload as the request
	// does, with OrigBatch (cup) and OrigSTAN; OrigRef is a reversal's
	// original as the wire identifies it
	// (what reversals are deduplicated by). OrigState is the state the
	// original is left in by this message ("approved", "voided",
	// "reversed", "completed"; empty when none was found or touched).
	Batch        uint32 `json:"batch,omitempty"`
	RRN          string `json:"rrn,omitempty"`
	AuthCode     string `json:"auth_code,omitempty"`
	OrigKind     string `json:"orig_kind,omitempty"`
	OrigRRN      string `json:"orig_rrn,omitempty"`
	OrigAuthCode string `json:"orig_auth_code,omitempty"`
	OrigBatch    uint32 `json:"orig_batch,omitempty"`
	OrigRef      string `json:"orig_ref,omitempty"`
	OrigState    string `json:"orig_state,omitempty"`
	// Voided marks a void that left its original voided (the first one,
	// and a repeat answered as a duplicate).
	Voided bool `json:"voided,omitempty"`
	// VoidedKind is, on a reversal of a void, what that void voided as
	// the reversal's codes say ("purchase", "refund", "completion",
	// "preauth"); empty when they do not tell (ascii87 sends the void of
	// a sale and that of a completion alike) and on lines written before
	// it was journaled: the ledger then matches the void by its STAN
	// alone.
	VoidedKind string `json:"voided_kind,omitempty"`
	// Totals are a settlement's: the host's (its ledger) and the
	// terminal's (the request's). AfterUpload marks a settlement after a
	// batch upload, UploadCount the number of items the terminal says it
	// uploaded (cup sends it instead of totals). Uploads counts the batch
	// upload items the host has of the batch (on settlements and
	// uploads).
	Totals      *SettlementTotals `json:"totals,omitempty"`
	AfterUpload bool              `json:"after_upload,omitempty"`
	UploadCount int               `json:"upload_count,omitempty"`
	Uploads     int               `json:"uploads,omitempty"`
	// Settled marks a settlement that closed its batch (or found it
	// closed by the same totals: a repeat, with duplicate=true).
	Settled bool `json:"settled,omitempty"`
	// Balance marks an answer carrying an available balance (never its
	// amount: the journal says only that there was one).
	Balance bool   `json:"balance,omitempty"`
	Note    string `json:"note,omitempty"`
}

// Totals are counts and amounts of a batch in one currency, as journaled
// and as the control endpoint shows them (host.Totals with JSON names).
type Totals struct {
	DebitCount   int   `json:"debit_count"`
	DebitAmount  int64 `json:"debit_amount"`
	CreditCount  int   `json:"credit_count"`
	CreditAmount int64 `json:"credit_amount"`
}

func totalsOf(t host.Totals) *Totals {
	return &Totals{DebitCount: t.DebitCount, DebitAmount: t.DebitAmount, CreditCount: t.CreditCount, CreditAmount: t.CreditAmount}
}

func (t *Totals) host() host.Totals {
	if t == nil {
		return host.Totals{}
	}
	return host.Totals{DebitCount: t.DebitCount, DebitAmount: t.DebitAmount, CreditCount: t.CreditCount, CreditAmount: t.CreditAmount}
}

// SettlementTotals are the two sides of a settlement.
type SettlementTotals struct {
	Host     *Totals `json:"host,omitempty"`
	Terminal *Totals `json:"terminal,omitempty"`
}

// journal writes entries as JSON lines, one Write per line, so a reader
// tailing the file never sees half a line and nothing waits in a buffer.
type journal struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

func (j *journal) write(e Entry) error {
	if j == nil || j.w == nil {
		return nil
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := j.w.Write(b); err != nil {
		j.err = err
		return err
	}
	return nil
}

// MaskPAN keeps the first 6 and last 4 digits of a PAN and replaces the
// rest with '*'. Anything that is not a 12 to 19 digit PAN is fully masked.
func MaskPAN(pan string) string {
	ok := len(pan) >= 12 && len(pan) <= 19
	for i := 0; ok && i < len(pan); i++ {
		ok = pan[i] >= '0' && pan[i] <= '9'
	}
	if !ok {
		b := make([]byte, min(len(pan), 19))
		for i := range b {
			b[i] = '*'
		}
		return string(b)
	}
	b := []byte(pan)
	for i := 6; i < len(b)-4; i++ {
		b[i] = '*'
	}
	return string(b)
}
