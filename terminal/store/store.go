// Package store keeps the terminal's durable state in one bbolt file:
// transaction records, their states and the counters (STAN, transaction
// ids) that must never repeat. Every change is one bbolt transaction,
// committed with fsync before the caller acts on it: a counter is persisted
// before the value is used, and a record reaches auth_sent on disk before
// the request goes on the wire.
//
// Records never hold track data, PINs or PIN blocks: only what the terminal
// may keep after authorization (masked PAN, amounts, codes, the KSN).
//
// Those counters are also kept, ahead of use, in a high-water mark outside
// the file (Opts.Mark, mark.go): an older copy of posd.db put back in
// place (a backup restored) has its counters moved past the mark at Open
// and hands out no STAN, invoice number, record id or batch number again.
//
// Layout (schema 3): txns (id -> JSON record), by_state (state 0x00 id ->
// empty, an index), state_counts (state -> count), outbox (seq -> JSON job:
// work that must reach the host, such as reversals), counters (stan,
// invoice, batch: the open batch's number), meta.
// Migrations from older schemas run in one bbolt transaction at Open,
// which then zeroes the file's free pages (scrub.go): bbolt leaves what
// it frees in place. A record field that older records lack and older
// builds may ignore (settled_by_hand, say) needs no migration and no new
// schema: such records decode with the field empty, and an older build
// keeps it when it rewrites the record (keep.go).
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout this package reads and writes.
const SchemaVersion = 4

var (
	bucketMeta     = []byte("meta")
	bucketTxns     = []byte("txns")
	bucketCounters = []byte("counters")
	bucketByState  = []byte("by_state")
	bucketCounts   = []byte("state_counts")
	bucketOutbox   = []byte("outbox")
	keySchema      = []byte("schema_version")
	keyCompat      = []byte("compat_version")
	keyInstance    = []byte("instance")
)

// State of a transaction record.
type State string

// Transaction states. Final states: approved, declined, failed, reversed.
const (
	StateCreated         State = "created"          // sale started, waiting for a card
	StateAuthSent        State = "auth_sent"        // request committed and being sent
	StateApproved        State = "approved"         // host approved
	StateOfflineApproved State = "offline_approved" // approved by the chip offline (TC); an advice forwards it
	StateDeclined        State = "declined"         // host declined
	StateFailed          State = "failed"           // ended before anything reached the host
	StateReversalPending State = "reversal_pending" // outcome unknown: a reversal must be acknowledged
	StateReversed        State = "reversed"         // reversal acknowledged by the host
)

// Final reports whether no further transition is expected.
func (s State) Final() bool {
	switch s {
	case StateApproved, StateOfflineApproved, StateDeclined, StateFailed, StateReversed:
		return true
	}
	return false
}

// states lists every state, in the order of a sale.
var states = []State{StateCreated, StateAuthSent, StateApproved, StateOfflineApproved, StateDeclined, StateFailed,
	StateReversalPending, StateReversed}

// Known reports whether s is a state of the model.
func (s State) Known() bool {
	for _, x := range states {
		if x == s {
			return true
		}
	}
	return false
}

// StateNames lists the states' names.
func StateNames() []string {
	out := make([]string, len(states))
	for i, s := range states {
		out[i] = string(s)
	}
	return out
}

var transitions = map[State][]State{
	StateCreated:         {StateAuthSent, StateFailed, StateOfflineApproved, StateDeclined},
	StateAuthSent:        {StateApproved, StateDeclined, StateReversalPending, StateFailed, StateOfflineApproved},
	StateApproved:        {StateReversalPending},
	StateReversalPending: {StateReversed},
}

// CanMove reports whether a record may go from s to next.
func (s State) CanMove(next State) bool {
	if s == next {
		return true
	}
	for _, n := range transitions[s] {
		if n == next {
			return true
		}
	}
	return false
}

// Txn is one transaction record.
type Txn struct {
	ID           string    `json:"id"`
	Kind         string    `json:"kind"` // purchase, refund, void, preauth, completion, balance, settlement (terminal/host kinds)
	State        State     `json:"state"`
	Amount       int64     `json:"amount"`   // minor units
	Currency     string    `json:"currency"` // ISO 4217 numeric
	STAN         uint32    `json:"stan,omitempty"`
	KSN          string    `json:"ksn,omitempty"` // hex; not secret
	MaskedPAN    string    `json:"masked_pan,omitempty"`
	EntryMode    string    `json:"entry_mode,omitempty"`
	ResponseCode string    `json:"response_code,omitempty"`
	AuthCode     string    `json:"auth_code,omitempty"`
	RRN          string    `json:"rrn,omitempty"`
	Failure      string    `json:"failure,omitempty"`   // why it failed, a code of terminal/txn
	RiskRule     string    `json:"risk_rule,omitempty"` // the risk rule that refused it (terminal/risk code)
	CVM          string    `json:"cvm,omitempty"`       // the cardholder verification done: none, online_pin, ...
	Error        string    `json:"error,omitempty"`     // the failure's detail, for the engineer
	Reason       string    `json:"reversal_reason,omitempty"`
	Attempts     int       `json:"reversal_attempts,omitempty"`
	ReversalSTAN uint32    `json:"reversal_stan,omitempty"` // allocated once, reused by every retry
	ReversalSent bool      `json:"reversal_sent,omitempty"` // an attempt may have reached the host: later ones are repeats
	Created      time.Time `json:"created"`
	Updated      time.Time `json:"updated"`
	SentAt       time.Time `json:"sent_at,omitzero"`
	// AdviceSent is when the host acknowledged the advice of an offline
	// approval; AdviceCode is the host's answer when it refused it for
	// good (the advice is then dropped and the record says why), or
	// "lost" when its card data could never be opened again (never sent).
	AdviceSent time.Time `json:"advice_sent,omitzero"`
	AdviceCode string    `json:"advice_code,omitempty"`
	// Chip is what the EMV kernel decided, for a card inserted or tapped:
	// nothing sensitive.
	Chip *Chip `json:"chip,omitempty"`

	// Batch is the batch the transaction belongs to (assigned with its
	// STAN when the request is committed; 0 for one that never reached
	// that point); Invoice its invoice number, from the same commit.
	Batch   uint32 `json:"batch,omitempty"`
	Invoice uint32 `json:"invoice,omitempty"`
	// OrigID is the record a void, a completion or a refund refers to.
	OrigID string `json:"orig_id,omitempty"`
	// VoidedBy is the approved void of this record; CompletedBy the
	// approved completion of this pre-authorization.
	VoidedBy    string `json:"voided_by,omitempty"`
	CompletedBy string `json:"completed_by,omitempty"`
	// Refunded is what the approved refunds of this sale or completion
	// add up to (a voided refund no longer counts), kept in the commits
	// that approve a refund or void one: the terminal refunds no more
	// than was paid, and voids no sale that was partly refunded.
	Refunded int64 `json:"refunded,omitempty"`
	// Balance is the available balance a balance inquiry's answer gave,
	// in minor units of BalanceCurrency.
	Balance         *int64 `json:"balance,omitempty"`
	BalanceCurrency string `json:"balance_currency,omitempty"`
	// Totals are a settlement's: per currency, the totals sent to the
	// host and, per scheme and kind, what they are made of. Uploaded
	// counts the transactions a batch upload sent.
	Totals   []Totals `json:"totals,omitempty"`
	Uploaded int      `json:"uploaded,omitempty"`
	// Wallet is a wallet payment's: the platform, the terminal's order
	// number, the platform's transaction id and the payment code masked
	// (the code itself is never kept).
	Wallet *Wallet `json:"wallet,omitempty"`
	// Face is a face payment's: the consent, the liveness decision and
	// the platform's answer. Never an image, a template or the account.
	Face *Face `json:"face,omitempty"`
	// Hand says that the merchant settled the transaction by hand with
	// the acquirer or the platform after the terminal set it aside
	// (terminal/txn's settle-by-hand list); nil for every other record.
	// The record keeps its state: Hand is what happened beside it.
	Hand *Hand `json:"settled_by_hand,omitempty"`
}

// Hand is how a transaction set aside was settled by hand: when, by
// whom (as the service console's login names them), why it had been
// set aside, the outcome and a short reference (the acquirer's or the
// platform's ticket; printable, never card data: terminal/txn checks it).
type Hand struct {
	At      time.Time `json:"at"`
	By      string    `json:"by"`
	Why     string    `json:"why"`
	Outcome string    `json:"outcome"`
	Ref     string    `json:"reference"`
}

// Face is what a face payment keeps: when the customer consented, the
// liveness check's challenge, decision, scores and reasons, and the
// platform's answer (the account masked). No image, no face template.
type Face struct {
	ConsentAt time.Time `json:"consent_at"`
	Challenge string    `json:"challenge,omitempty"`
	Decision  string    `json:"decision,omitempty"`
	// Attempts is how many liveness checks the sale ran (the last one's
	// decision and scores are kept).
	Attempts      int                `json:"attempts,omitempty"`
	Scores        map[string]float64 `json:"scores,omitempty"`
	Reasons       []string           `json:"reasons,omitempty"`
	Frames        int                `json:"frames,omitempty"`
	VideoMS       int64              `json:"video_ms,omitempty"`
	OrderID       string             `json:"order_id,omitempty"`
	MaskedAccount string             `json:"masked_account,omitempty"`
	Status        string             `json:"status,omitempty"`
	PlatformTxnID string             `json:"platform_txn_id,omitempty"`
}

// Wallet is what a wallet-code payment keeps.
type Wallet struct {
	Platform      string `json:"platform"`
	OrderID       string `json:"order_id"`
	PlatformTxnID string `json:"platform_txn_id,omitempty"`
	MaskedCode    string `json:"masked_code"`
	// RefundID is a wallet refund's own id at the platform.
	RefundID string `json:"refund_id,omitempty"`
	// MerchantPresented: the customer scanned the terminal's code (no
	// code of the customer's was read; MaskedCode is empty).
	MerchantPresented bool `json:"merchant_presented,omitempty"`
}

// Totals are a batch's figures in one currency: debits (sales,
// completions, offline approvals) and credits (refunds), voided ones
// left out, with the lines they are made of.
type Totals struct {
	Currency     string      `json:"currency"`
	DebitCount   int         `json:"debit_count"`
	DebitAmount  int64       `json:"debit_amount"`
	CreditCount  int         `json:"credit_count"`
	CreditAmount int64       `json:"credit_amount"`
	Lines        []TotalLine `json:"lines,omitempty"`
	// ResponseCode is the host's answer to these totals (00 balanced, 95
	// out of balance), then to the settlement after the upload.
	ResponseCode string `json:"response_code,omitempty"`
}

// TotalLine is the count and amount of one scheme and kind in a batch.
type TotalLine struct {
	Scheme string `json:"scheme"`
	Kind   string `json:"kind"`
	Count  int    `json:"count"`
	Amount int64  `json:"amount"`
}

// Chip is the EMV summary a chip sale keeps (no PAN, no track data).
type Chip struct {
	Interface  string `json:"interface"` // contact, contactless
	AID        string `json:"aid"`
	Label      string `json:"label,omitempty"`
	TVR        string `json:"tvr"`
	TSI        string `json:"tsi,omitempty"`
	Cryptogram string `json:"cryptogram_type,omitempty"` // AAC, TC, ARQC
	CVMResults string `json:"cvm_results,omitempty"`
	ATC        uint16 `json:"atc,omitempty"`
	Kernel     int    `json:"kernel,omitempty"`
}

// DB is the terminal's database.
type DB struct {
	bolt     *bolt.DB
	now      func() time.Time
	instance string
	commits  atomic.Uint64
	reserve  uint64 // Opts.Reserve
	statfs   Statfs
	fault    func() error // Opts.Fault
	log      *slog.Logger // Opts.Logger (nil: none)
	mark     *counterMark // Opts.Mark (nil: none)
	moved    []CounterMove
}

// Commits counts the write transactions Do committed (each one fsync of
// the file): the cost a sale's benchmark and tests watch.
func (d *DB) Commits() uint64 { return d.commits.Load() }

func (d *DB) init(keepReadable bool) error {
	return d.bolt.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if v := meta.Get(keyInstance); len(v) > 0 {
			d.instance = string(v)
		} else if err := meta.Put(keyInstance, []byte(d.instance)); err != nil {
			return err
		}
		return migrate(tx, meta, keepReadable)
	})
}

// Bolt returns the underlying database so other durable parts (the key
// store) share the file. They must use their own buckets.
func (d *DB) Bolt() *bolt.DB { return d.bolt }

// Close closes the file. With a counters' mark, it first lowers the mark
// to the values the database holds (a clean stop): the next Open can then
// tell an older copy of the file. Should that fail, the mark stays ahead
// (the next Open skips what it reserved) and Close goes on.
func (d *DB) Close() error {
	if d.mark != nil {
		if err := d.exactMark(); err != nil && !errors.Is(err, berrors.ErrDatabaseNotOpen) && d.log != nil {
			d.log.Warn("the counters' mark stays ahead of the database (the next start skips what it reserved)", "err", err)
		}
	}
	return d.bolt.Close()
}

// Instance is the random identity the database was created with; the
// marker next to the file holds the same value.
func (d *DB) Instance() string { return d.instance }

// Path is the database file.
func (d *DB) Path() string { return d.bolt.Path() }

// IsNotFound reports whether err means a missing record.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

func parseID(id string) (uint64, error) {
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%w: id %q", ErrNotFound, id)
	}
	return n, nil
}

func key(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func get(b *bolt.Bucket, seq uint64) (Txn, error) {
	var t Txn
	v := b.Get(key(seq))
	if v == nil {
		return t, fmt.Errorf("%w: id %d", ErrNotFound, seq)
	}
	if err := json.Unmarshal(v, &t); err != nil {
		return t, fmt.Errorf("store: record %d: %w", seq, err)
	}
	return t, nil
}

func put(b *bolt.Bucket, seq uint64, t *Txn) error {
	v, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return b.Put(key(seq), v)
}
