package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Tx is one durable step: everything done through it is committed
// together (one fsync) when the function given to DB.Do returns nil, and
// nothing of it when it returns an error.
type Tx struct {
	tx  *bolt.Tx
	now time.Time
	// mark is the counters' mark (nil: none, or a read); raise what it
	// must cover before this transaction commits (use).
	mark  *counterMark
	raise map[string]markEntry
}

// Do runs fn in one read-write transaction.
func (d *DB) Do(fn func(*Tx) error) error {
	err := d.bolt.Update(func(btx *bolt.Tx) error {
		t := &Tx{tx: btx, now: d.now().UTC(), mark: d.mark}
		if err := fn(t); err != nil {
			return err
		}
		if d.fault != nil {
			if err := d.fault(); err != nil {
				return err
			}
		}
		// The mark covers every counter value of this commit before it
		// is committed (used only after Do returns).
		return t.saveMark()
	})
	if err == nil {
		d.commits.Add(1)
	}
	return storageError(d.bolt.Path(), err)
}

// View runs fn in a read-only transaction; fn must not write.
func (d *DB) View(fn func(*Tx) error) error {
	return d.bolt.View(func(btx *bolt.Tx) error {
		return fn(&Tx{tx: btx, now: d.now().UTC()})
	})
}

// Bolt is the underlying bbolt transaction, for the other parts that keep
// their buckets in the same file (key store, risk rules) and write in the
// same commit.
func (t *Tx) Bolt() *bolt.Tx { return t.tx }

// ReserveIDs takes the next n record ids for the caller to assign later
// (Insert): it returns the first; the ids first..first+n-1 are never
// handed out again, whether they are used or not.
func (t *Tx) ReserveIDs(n uint64) (first uint64, err error) {
	b := t.tx.Bucket(bucketTxns)
	seq := b.Sequence()
	if err := b.SetSequence(seq + n); err != nil {
		return 0, err
	}
	t.use(CounterIDs, seq, seq+n)
	return seq + 1, nil
}

// ReleaseIDs gives back the reserved ids from next to end-1 that the
// caller never handed out (a clean stop): when they are still the last
// ids reserved (none reserved or created after them) and none of them
// was stored, the record ids continue at next; otherwise nothing changes
// (they stay skipped). The counters' mark follows at a clean Close.
func (t *Tx) ReleaseIDs(next, end uint64) (released bool, err error) {
	b := t.tx.Bucket(bucketTxns)
	if next == 0 || next >= end || b.Sequence() != end-1 {
		return false, nil
	}
	if k, _ := b.Cursor().Last(); len(k) == 8 && binary.BigEndian.Uint64(k) >= next {
		return false, nil
	}
	if err := b.SetSequence(next - 1); err != nil {
		return false, err
	}
	return true, nil
}

// Insert stores a record the caller built with a reserved id (its first
// write: the state model is checked from created, the creation time is
// the caller's).
func (t *Tx) Insert(r *Txn) error {
	seq, err := parseID(r.ID)
	if err != nil {
		return err
	}
	b := t.tx.Bucket(bucketTxns)
	if b.Get(key(seq)) != nil {
		return fmt.Errorf("%w: id %s exists", ErrState, r.ID)
	}
	if seq > b.Sequence() {
		return fmt.Errorf("%w: id %s was not reserved", ErrState, r.ID)
	}
	if !StateCreated.CanMove(r.State) {
		return fmt.Errorf("%w: created -> %s", ErrState, r.State)
	}
	r.Updated = t.now
	if r.Created.IsZero() {
		r.Created = t.now
	}
	if err := put(b, seq, r); err != nil {
		return err
	}
	return t.index(seq, "", r.State)
}

// NextCounter increments the named counter and returns the new value.
func (t *Tx) NextCounter(name string) (uint64, error) {
	b := t.tx.Bucket(bucketCounters)
	var n uint64
	switch v := b.Get([]byte(name)); len(v) {
	case 0:
	case 8:
		n = binary.BigEndian.Uint64(v)
	default:
		// Starting it again from 1 would repeat numbers the host has seen.
		return 0, fmt.Errorf("%w: counter %s holds %d bytes", ErrDamaged, name, len(v))
	}
	n++
	t.use(name, n-1, n)
	return n, b.Put([]byte(name), binary.BigEndian.AppendUint64(nil, n))
}

// NextSTAN returns the next system trace audit number, 1 to 999999, then 1
// again.
func (t *Tx) NextSTAN() (uint32, error) {
	n, err := t.NextCounter("stan")
	if err != nil {
		return 0, err
	}
	return uint32((n-1)%999999 + 1), nil
}

// keyBatch is the counter holding the open batch's number.
var keyBatch = []byte("batch")

// OpenBatch returns the number of the batch new transactions go into.
func (t *Tx) OpenBatch() uint32 {
	if v := t.tx.Bucket(bucketCounters).Get(keyBatch); len(v) == 8 {
		return uint32(binary.BigEndian.Uint64(v))
	}
	return 1
}

// CloseBatch closes the open batch: later transactions go into the next
// one (1 to 999999, then 1 again). It returns the new open batch.
func (t *Tx) CloseBatch() (uint32, error) {
	cur := t.OpenBatch()
	n := cur%batchWrap + 1
	if t.mark != nil {
		ref, _ := t.mark.get(CounterBatch)
		if p, ok := t.raise[CounterBatch]; ok {
			ref = p
		}
		before := batchLinear(cur, ref.Max)
		t.use(CounterBatch, before, before+1)
	}
	return n, t.tx.Bucket(bucketCounters).Put(keyBatch, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// NextInvoice returns the next invoice number, 1 to 999999, then 1 again.
func (t *Tx) NextInvoice() (uint32, error) {
	n, err := t.NextCounter("invoice")
	if err != nil {
		return 0, err
	}
	return uint32((n-1)%999999 + 1), nil
}

// AssignNumbers gives r, in the commit that sends its request, its
// invoice number and the open batch.
func (t *Tx) AssignNumbers(r *Txn) error {
	inv, err := t.NextInvoice()
	if err != nil {
		return err
	}
	r.Invoice, r.Batch = inv, t.OpenBatch()
	return nil
}

// Batch returns every record of batch n, oldest first.
func (t *Tx) Batch(n uint32) ([]Txn, error) {
	var out []Txn
	err := t.tx.Bucket(bucketTxns).ForEach(func(k, v []byte) error {
		var r Txn
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("store: record %.8x: %w", k, err)
		}
		if r.Batch == n {
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// After returns the records whose ids are above after (0: all), oldest
// first, with the highest id read (after when there is none). Its cost
// follows the records returned, not the records kept.
func (t *Tx) After(after uint64) ([]Txn, uint64, error) {
	var out []Txn
	last := after
	c := t.tx.Bucket(bucketTxns).Cursor()
	for k, v := c.Seek(key(after + 1)); k != nil; k, v = c.Next() {
		if len(k) != 8 || v == nil {
			continue
		}
		var r Txn
		if err := json.Unmarshal(v, &r); err != nil {
			return nil, last, fmt.Errorf("store: record %.8x: %w", k, err)
		}
		out = append(out, r)
		last = binary.BigEndian.Uint64(k)
	}
	return out, last, nil
}

// Len is how many records the store holds (from the state counts, not a
// walk).
func (t *Tx) Len() int {
	n := 0
	t.tx.Bucket(bucketCounts).ForEach(func(_, v []byte) error {
		if len(v) == 8 {
			n += int(binary.BigEndian.Uint64(v))
		}
		return nil
	})
	return n
}

// Create assigns r an id, sets its timestamps and stores it.
func (t *Tx) Create(r *Txn) error {
	b := t.tx.Bucket(bucketTxns)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	t.use(CounterIDs, seq-1, seq)
	r.ID = strconv.FormatUint(seq, 10)
	r.Created, r.Updated = t.now, t.now
	if r.State == "" {
		r.State = StateCreated
	}
	if err := put(b, seq, r); err != nil {
		return err
	}
	return t.index(seq, "", r.State)
}

// Get returns the record with id.
func (t *Tx) Get(id string) (Txn, error) {
	seq, err := parseID(id)
	if err != nil {
		return Txn{}, err
	}
	b := t.tx.Bucket(bucketTxns)
	r, err := get(b, seq)
	if IsNotFound(err) && seq <= b.Sequence() {
		// The id is in a block reserved for the engine: it may have been
		// handed out (ids are handed out from the block in memory, and a
		// restart skips the rest of it). Anything sent to a host is
		// written before it is sent, so a transaction given this id with
		// no record ended before its request; or the purge deleted it.
		return Txn{}, fmt.Errorf("%w: id %s: %w", ErrNotFound, id, ErrNotRecorded)
	}
	return r, err
}

// Update applies fn to the record with id and stores the result, refusing
// transitions the state model forbids.
func (t *Tx) Update(id string, fn func(*Txn) error) (Txn, error) {
	seq, err := parseID(id)
	if err != nil {
		return Txn{}, err
	}
	b := t.tx.Bucket(bucketTxns)
	r, err := get(b, seq)
	if err != nil {
		return Txn{}, err
	}
	// The record as this build writes it, before fn: what of the stored
	// one it does not know is kept (putKeeping).
	known, err := json.Marshal(&r)
	if err != nil {
		return Txn{}, err
	}
	prev := r.State
	if err := fn(&r); err != nil {
		return Txn{}, err
	}
	if !prev.CanMove(r.State) {
		return Txn{}, fmt.Errorf("%w: %s -> %s", ErrState, prev, r.State)
	}
	r.ID, r.Updated = id, t.now
	if err := putKeeping(b, seq, &r, b.Get(key(seq)), known); err != nil {
		return Txn{}, err
	}
	return r, t.index(seq, prev, r.State)
}

// index moves record seq from state prev ("" for a new record) to next in
// the state index and counts.
func (t *Tx) index(seq uint64, prev, next State) error {
	if prev == next {
		return nil
	}
	idx, counts := t.tx.Bucket(bucketByState), t.tx.Bucket(bucketCounts)
	if prev != "" {
		if err := idx.Delete(stateKey(prev, seq)); err != nil {
			return err
		}
		if err := addCount(counts, prev, -1); err != nil {
			return err
		}
	}
	if err := idx.Put(stateKey(next, seq), nil); err != nil {
		return err
	}
	return addCount(counts, next, 1)
}

func stateKey(s State, seq uint64) []byte {
	k := append([]byte(s), 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

func addCount(b *bolt.Bucket, s State, delta int64) error {
	var n int64
	if v := b.Get([]byte(s)); len(v) == 8 {
		n = int64(binary.BigEndian.Uint64(v))
	}
	n += delta
	if n < 0 {
		return fmt.Errorf("%w: count of %s below zero", ErrDamaged, s)
	}
	return b.Put([]byte(s), binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// Count returns how many records are in state s.
func (t *Tx) Count(s State) int {
	if v := t.tx.Bucket(bucketCounts).Get([]byte(s)); len(v) == 8 {
		return int(binary.BigEndian.Uint64(v))
	}
	return 0
}

// List returns up to limit records (limit <= 0: all), newest first,
// optionally only those in one of states. With states it walks the state
// index, so its cost follows the records returned, not the records kept.
func (t *Tx) List(limit int, states ...State) ([]Txn, error) {
	b := t.tx.Bucket(bucketTxns)
	var out []Txn
	if len(states) == 0 {
		c := b.Cursor()
		for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
			var r Txn
			if err := json.Unmarshal(v, &r); err != nil {
				return nil, fmt.Errorf("store: record %.8x: %w", k, err)
			}
			out = append(out, r)
		}
		return out, nil
	}
	// Merge the per-state runs of the index, newest first.
	type run struct {
		c   *bolt.Cursor
		pre []byte
		seq uint64
		ok  bool
	}
	var runs []*run
	for _, s := range states {
		r := &run{c: t.tx.Bucket(bucketByState).Cursor(), pre: append([]byte(s), 0)}
		k, _ := r.c.Seek(stateKey(s, ^uint64(0)))
		if k == nil || !bytes.HasPrefix(k, r.pre) {
			k, _ = r.c.Prev()
		}
		r.seq, r.ok = seqOf(k, r.pre)
		runs = append(runs, r)
	}
	for limit <= 0 || len(out) < limit {
		var best *run
		for _, r := range runs {
			if r.ok && (best == nil || r.seq > best.seq) {
				best = r
			}
		}
		if best == nil {
			break
		}
		rec, err := get(b, best.seq)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
		k, _ := best.c.Prev()
		best.seq, best.ok = seqOf(k, best.pre)
	}
	return out, nil
}

func seqOf(k, pre []byte) (uint64, bool) {
	if k == nil || !bytes.HasPrefix(k, pre) || len(k) != len(pre)+8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[len(pre):]), true
}

// Purge deletes up to max records (max <= 0: no bound) in a final state
// created before before, oldest first, with their index entries, and
// returns how many it deleted. Records not final are never purged, nor
// those an outbox job still names (an offline approval whose advice
// waits is final, and its advice is built from it), nor those of the
// open batch (its close needs them).
//
// Records are kept in the order they were made, and their stamps follow
// the terminal's clock. A record stamped after the transaction's now was
// made while the clock was ahead: its age is unknown, but it is older
// than every record made after it, so it goes once one of those is past
// the retention (and does not hold their purge back until its own stamp
// is). The walk stops at the first record stamped between before and
// now: what follows is more recent.
func (t *Tx) Purge(before time.Time, max int) (int, error) {
	open := t.OpenBatch()
	jobs, err := t.Jobs()
	if err != nil {
		return 0, err
	}
	busy := make(map[string]bool, len(jobs))
	for _, j := range jobs {
		busy[j.TxnID] = true
	}
	type victim struct {
		seq   uint64
		state State
	}
	var del, ahead []victim
	full := func() bool { return max > 0 && len(del) >= max }
	c := t.tx.Bucket(bucketTxns).Cursor()
	for k, v := c.First(); k != nil && !full(); k, v = c.Next() {
		var r Txn
		if err := json.Unmarshal(v, &r); err != nil {
			return 0, fmt.Errorf("store: record %.8x: %w", k, err)
		}
		final := r.State.Final() && !busy[r.ID] && (r.Batch == 0 || r.Batch != open)
		x := victim{binary.BigEndian.Uint64(k), r.State}
		if !r.Created.Before(before) {
			if !r.Created.After(t.now) {
				break
			}
			if final {
				ahead = append(ahead, x)
			}
			continue
		}
		for _, a := range ahead {
			if !full() {
				del = append(del, a)
			}
		}
		ahead = nil
		if final && !full() {
			del = append(del, x)
		}
	}
	b := t.tx.Bucket(bucketTxns)
	for _, x := range del {
		if err := b.Delete(key(x.seq)); err != nil {
			return 0, err
		}
		if err := t.tx.Bucket(bucketByState).Delete(stateKey(x.state, x.seq)); err != nil {
			return 0, err
		}
		if err := addCount(t.tx.Bucket(bucketCounts), x.state, -1); err != nil {
			return 0, err
		}
	}
	return len(del), nil
}

// JobKind is the kind of work an outbox job carries.
type JobKind string

// Job kinds.
const (
	// JobReversal: the reversal of TxnID must be acknowledged by the host.
	JobReversal JobKind = "reversal"
	// JobAdvice: an offline approval (TxnID) must be forwarded to the
	// host as an advice.
	JobAdvice JobKind = "advice"
	// JobWalletCancel: the wallet payment TxnID's outcome is unknown; it
	// must be cancelled (reversed) at its platform.
	JobWalletCancel JobKind = "wallet_cancel"
	// JobFaceCancel: the face payment TxnID's outcome at the face-pay
	// platform is unknown; it must be cancelled (reversed) there.
	JobFaceCancel JobKind = "face_cancel"
	// JobWalletRefund: the wallet refund TxnID's outcome is unknown; the
	// platform is asked again, with the same refund id, until it says.
	JobWalletRefund JobKind = "wallet_refund"
)

// Job is durable work for the host: it stays in the outbox until it is
// done, across restarts.
type Job struct {
	Seq       uint64    `json:"-"`
	Kind      JobKind   `json:"kind"`
	TxnID     string    `json:"txn_id"`
	Attempts  int       `json:"attempts,omitempty"`
	NextAt    time.Time `json:"next_at,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	Created   time.Time `json:"created"`
	// Data is what the job needs to run that the record does not keep,
	// sealed by the engine (an advice's card data); it goes with the job.
	Data []byte `json:"data,omitempty"`
}

// Enqueue adds j to the outbox and sets its Seq.
func (t *Tx) Enqueue(j *Job) error {
	b := t.tx.Bucket(bucketOutbox)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	j.Seq = seq
	if j.Created.IsZero() {
		j.Created = t.now
	}
	return putJob(b, j)
}

// PutJob stores j (an existing job) again.
func (t *Tx) PutJob(j *Job) error {
	b := t.tx.Bucket(bucketOutbox)
	old := b.Get(key(j.Seq))
	if old == nil {
		return fmt.Errorf("%w: job %d", ErrNotFound, j.Seq)
	}
	v, err := encodeKeeping(j, old)
	if err != nil {
		return err
	}
	return b.Put(key(j.Seq), v)
}

// DeleteJob removes job seq: its work is done.
func (t *Tx) DeleteJob(seq uint64) error {
	return t.tx.Bucket(bucketOutbox).Delete(key(seq))
}

// Jobs lists the outbox in the order the jobs were queued.
func (t *Tx) Jobs() ([]Job, error) {
	var out []Job
	err := t.tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
		var j Job
		if err := json.Unmarshal(v, &j); err != nil {
			return fmt.Errorf("store: job %x: %w", k, err)
		}
		j.Seq = binary.BigEndian.Uint64(k)
		out = append(out, j)
		return nil
	})
	return out, err
}

func putJob(b *bolt.Bucket, j *Job) error {
	v, err := json.Marshal(j)
	if err != nil {
		return err
	}
	return b.Put(key(j.Seq), v)
}

// The single-step forms below are each one transaction.

// NextCounter increments the named counter; the increment is on disk
// before the value is returned.
func (d *DB) NextCounter(name string) (n uint64, err error) {
	err = d.Do(func(t *Tx) error { n, err = t.NextCounter(name); return err })
	return n, err
}

// NextSTAN returns the next STAN, committed.
func (d *DB) NextSTAN() (n uint32, err error) {
	err = d.Do(func(t *Tx) error { n, err = t.NextSTAN(); return err })
	return n, err
}

// Create stores a new record.
func (d *DB) Create(r *Txn) error { return d.Do(func(t *Tx) error { return t.Create(r) }) }

// Update changes one record.
func (d *DB) Update(id string, fn func(*Txn) error) (out Txn, err error) {
	err = d.Do(func(t *Tx) error { out, err = t.Update(id, fn); return err })
	return out, err
}

// Get returns the record with id.
func (d *DB) Get(id string) (out Txn, err error) {
	err = d.View(func(t *Tx) error { out, err = t.Get(id); return err })
	return out, err
}

// List returns up to limit records, newest first, optionally only those in
// one of states.
func (d *DB) List(limit int, states ...State) (out []Txn, err error) {
	err = d.View(func(t *Tx) error { out, err = t.List(limit, states...); return err })
	return out, err
}

// Count returns how many records are in state s.
func (d *DB) Count(s State) (n int) {
	d.View(func(t *Tx) error { n = t.Count(s); return nil })
	return n
}

// Jobs lists the outbox.
func (d *DB) Jobs() (out []Job, err error) {
	err = d.View(func(t *Tx) error { out, err = t.Jobs(); return err })
	return out, err
}

// OpenBatch returns the open batch's number (see Tx.OpenBatch).
func (d *DB) OpenBatch() (n uint32) {
	d.View(func(t *Tx) error { n = t.OpenBatch(); return nil })
	return n
}

// Purge deletes final records created before before (see Tx.Purge).
func (d *DB) Purge(before time.Time, max int) (n int, err error) {
	err = d.Do(func(t *Tx) error { n, err = t.Purge(before, max); return err })
	return n, err
}
