// Package store keeps the terminal's durable state in one bbolt file:
// transaction records, their states and the counters (STAN, transaction
// ids) that must never repeat. Every change is one bbolt transaction,
// committed with fsync before the caller acts on it: a counter is persisted
// before the value is used, and a record reaches auth_sent on disk before
// the request goes on the wire.
//
// Records never hold track data, PINs or PIN blocks: only what the terminal
// may keep after authorization (masked PAN, amounts, codes, the KSN).
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the layout this package reads and writes.
const SchemaVersion = 1

var (
	bucketMeta     = []byte("meta")
	bucketTxns     = []byte("txns")
	bucketCounters = []byte("counters")
	keySchema      = []byte("schema_version")
	keyInstance    = []byte("instance")
)

// State of a transaction record.
type State string

// Transaction states. Final states: approved, declined, failed, reversed.
const (
	StateCreated         State = "created"          // sale started, waiting for a card
	StateAuthSent        State = "auth_sent"        // request committed and being sent
	StateApproved        State = "approved"         // host approved
	StateDeclined        State = "declined"         // host declined
	StateFailed          State = "failed"           // ended before anything reached the host
	StateReversalPending State = "reversal_pending" // outcome unknown: a reversal must be acknowledged
	StateReversed        State = "reversed"         // reversal acknowledged by the host
)

// Final reports whether no further transition is expected.
func (s State) Final() bool {
	switch s {
	case StateApproved, StateDeclined, StateFailed, StateReversed:
		return true
	}
	return false
}

// states lists every state, in the order of a sale.
var states = []State{StateCreated, StateAuthSent, StateApproved, StateDeclined, StateFailed, StateReversalPending, StateReversed}

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
	StateCreated:         {StateAuthSent, StateFailed},
	StateAuthSent:        {StateApproved, StateDeclined, StateReversalPending, StateFailed},
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
	Kind         string    `json:"kind"` // "purchase"
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
	Error        string    `json:"error,omitempty"`
	Reason       string    `json:"reversal_reason,omitempty"`
	Attempts     int       `json:"reversal_attempts,omitempty"`
	ReversalSTAN uint32    `json:"reversal_stan,omitempty"` // allocated once, reused by every retry
	Created      time.Time `json:"created"`
	Updated      time.Time `json:"updated"`
	SentAt       time.Time `json:"sent_at,omitzero"`
}

// DB is the terminal's database.
type DB struct {
	bolt     *bolt.DB
	now      func() time.Time
	instance string
}

func (d *DB) init() error {
	return d.bolt.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if v := meta.Get(keySchema); v != nil {
			n, err := strconv.Atoi(string(v))
			if err != nil || n != SchemaVersion {
				return fmt.Errorf("%w: file has %q, this build reads %d", ErrSchema, v, SchemaVersion)
			}
		} else if err := meta.Put(keySchema, []byte(strconv.Itoa(SchemaVersion))); err != nil {
			return err
		}
		if v := meta.Get(keyInstance); len(v) > 0 {
			d.instance = string(v)
		} else if err := meta.Put(keyInstance, []byte(d.instance)); err != nil {
			return err
		}
		for _, name := range [][]byte{bucketTxns, bucketCounters} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
}

// Bolt returns the underlying database so other durable parts (the key
// store) share the file. They must use their own buckets.
func (d *DB) Bolt() *bolt.DB { return d.bolt }

// Close closes the file.
func (d *DB) Close() error { return d.bolt.Close() }

// Instance is the random identity the database was created with; the
// marker next to the file holds the same value.
func (d *DB) Instance() string { return d.instance }

// Path is the database file.
func (d *DB) Path() string { return d.bolt.Path() }

// NextCounter increments the named counter and returns the new value; the
// increment is on disk before the value is returned.
func (d *DB) NextCounter(name string) (uint64, error) {
	var n uint64
	err := d.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCounters)
		if v := b.Get([]byte(name)); len(v) == 8 {
			n = binary.BigEndian.Uint64(v)
		}
		n++
		return b.Put([]byte(name), binary.BigEndian.AppendUint64(nil, n))
	})
	return n, err
}

// NextSTAN returns the next system trace audit number, 1 to 999999, then 1
// again.
func (d *DB) NextSTAN() (uint32, error) {
	n, err := d.NextCounter("stan")
	if err != nil {
		return 0, err
	}
	return uint32((n-1)%999999 + 1), nil
}

// Create assigns t an id, sets its timestamps and stores it.
func (d *DB) Create(t *Txn) error {
	return d.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTxns)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		now := d.now().UTC()
		t.ID = strconv.FormatUint(seq, 10)
		t.Created, t.Updated = now, now
		if t.State == "" {
			t.State = StateCreated
		}
		return put(b, seq, t)
	})
}

// Update applies fn to the record with id and stores the result, refusing
// transitions the state model forbids.
func (d *DB) Update(id string, fn func(*Txn) error) (Txn, error) {
	var out Txn
	seq, err := parseID(id)
	if err != nil {
		return out, err
	}
	err = d.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTxns)
		t, err := get(b, seq)
		if err != nil {
			return err
		}
		prev := t.State
		if err := fn(&t); err != nil {
			return err
		}
		if !prev.CanMove(t.State) {
			return fmt.Errorf("%w: %s -> %s", ErrState, prev, t.State)
		}
		t.ID = id
		t.Updated = d.now().UTC()
		out = t
		return put(b, seq, &t)
	})
	return out, err
}

// Get returns the record with id.
func (d *DB) Get(id string) (Txn, error) {
	var out Txn
	seq, err := parseID(id)
	if err != nil {
		return out, err
	}
	err = d.bolt.View(func(tx *bolt.Tx) error {
		out, err = get(tx.Bucket(bucketTxns), seq)
		return err
	})
	return out, err
}

// List returns up to limit records, newest first, optionally only those in
// one of states.
func (d *DB) List(limit int, states ...State) ([]Txn, error) {
	var out []Txn
	err := d.bolt.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketTxns).Cursor()
		for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
			var t Txn
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("store: record %x: %w", k, err)
			}
			if len(states) > 0 && !hasState(states, t.State) {
				continue
			}
			out = append(out, t)
		}
		return nil
	})
	return out, err
}

func hasState(states []State, s State) bool {
	for _, x := range states {
		if x == s {
			return true
		}
	}
	return false
}

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

// IsNotFound reports whether err means a missing record.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
