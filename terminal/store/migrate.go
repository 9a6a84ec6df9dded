package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"

	"posd/terminal/schemaver"
)

// A migration brings a database from one schema to the next. Compat is
// the oldest schema whose builds can still read and write the file once
// it has run: a migration that only adds (a bucket, a record field older
// builds ignore, and keep when they rewrite the record: keep.go) keeps
// the compat of the file; one that changes what
// older builds read raises it to its own schema.
type migration struct {
	run    func(tx *bolt.Tx) error
	compat int
}

// migrations[i] brings a database from schema i+1 to schema i+2. They run
// in order, in the one bbolt transaction that opens the database, so a
// crash leaves the file at its old schema or fully at the new one.
var migrations = []migration{
	{migrate1to2, 2},
	{migrate2to3, 3},
	{migrate3to4, 3},
}

// CompatVersion is the oldest schema whose builds can read and write a
// file this build wrote (see migration.compat).
const CompatVersion = 3

// schemaAdvice ends the message of a file this build cannot use.
const schemaAdvice = "posd left the file untouched: do not remove it (its transactions, counters, keys and " +
	"pending reversals would be lost)"

// migrate creates a fresh layout, or brings an older one to SchemaVersion.
func migrate(tx *bolt.Tx, meta *bolt.Bucket, keepReadable bool) error {
	return migrateTo(tx, meta, SchemaVersion, CompatVersion, migrations, keepReadable)
}

// migrateTo creates a fresh layout at schema cur (compat compat), or
// brings an older one to cur with list. A file of a newer schema is used
// as it is when its compat says this build can (a firmware rolled back
// after a newer one added to the layout); otherwise it is refused, as is
// an unknown schema: this build cannot know what it means. keepReadable
// refuses a migration that would leave the file unusable to the build
// that wrote it (a trial firmware, whose predecessor runs again should
// the trial be rolled back): ErrTrialMigration, the file untouched.
func migrateTo(tx *bolt.Tx, meta *bolt.Bucket, cur, compat int, list []migration, keepReadable bool) error {
	v := meta.Get(keySchema)
	if v == nil && tx.Bucket(bucketTxns) != nil {
		// Records but no version: not a fresh file, and setting one up
		// over it would open batch 1 again.
		return fmt.Errorf("%w: the file has records but no schema version", ErrDamaged)
	}
	if v == nil {
		// A fresh file: the current layout directly.
		for _, name := range [][]byte{bucketTxns, bucketCounters, bucketByState, bucketCounts, bucketOutbox} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketCounters).Put(keyBatch, binary.BigEndian.AppendUint64(nil, 1)); err != nil {
			return err
		}
		if err := meta.Put(keyCompat, []byte(strconv.Itoa(compat))); err != nil {
			return err
		}
		return meta.Put(keySchema, []byte(strconv.Itoa(cur)))
	}
	n, err := strconv.Atoi(string(v))
	if err != nil || n < 1 {
		return fmt.Errorf("%w: file has %q, this build reads 1 to %d. %s", ErrSchema, v, cur, schemaAdvice)
	}
	fileCompat, err := schemaver.Compat(n, meta.Get(keyCompat), cur)
	if err != nil {
		if c, cerr := strconv.Atoi(string(meta.Get(keyCompat))); cerr == nil && c > cur && c <= n {
			return fmt.Errorf("%w: %w. The file needs a firmware of schema %d or newer: install it again "+
				"(the firmware that wrote the file, or a newer one). %s", ErrSchema, err, c, schemaAdvice)
		}
		return fmt.Errorf("%w: %w. %s", ErrSchema, err, schemaAdvice)
	}
	if n > cur {
		return nil // newer, but made to be read by this build: left as it is
	}
	newCompat := fileCompat
	for _, m := range list[n-1 : cur-1] {
		newCompat = max(newCompat, m.compat)
	}
	if keepReadable && newCompat > n {
		return fmt.Errorf("%w: schema %d to %d makes the file unreadable to schema %d builds", ErrTrialMigration, n, cur, n)
	}
	for ; n < cur; n++ {
		if err := list[n-1].run(tx); err != nil {
			return fmt.Errorf("store: migrating schema %d to %d: %w", n, n+1, err)
		}
		if err := meta.Put(keySchema, []byte(strconv.Itoa(n+1))); err != nil {
			return err
		}
	}
	if c := meta.Get(keyCompat); c == nil || string(c) != strconv.Itoa(newCompat) {
		return meta.Put(keyCompat, []byte(strconv.Itoa(newCompat)))
	}
	return nil
}

// migrate1to2 adds the state index and counts, and the outbox: every
// reversal_pending record of schema 1 gets its reversal job, due at once.
func migrate1to2(tx *bolt.Tx) error {
	txns := tx.Bucket(bucketTxns)
	if txns == nil {
		return fmt.Errorf("%w: no txns bucket", ErrDamaged)
	}
	if _, err := tx.CreateBucketIfNotExists(bucketCounters); err != nil {
		return err
	}
	for _, name := range [][]byte{bucketByState, bucketCounts, bucketOutbox} {
		if _, err := tx.CreateBucket(name); err != nil {
			return err
		}
	}
	t := &Tx{tx: tx}
	return txns.ForEach(func(k, v []byte) error {
		var r Txn
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("record %.8x: %w", k, err)
		}
		seq, err := parseID(r.ID)
		if err != nil {
			return err
		}
		if err := t.index(seq, "", r.State); err != nil {
			return err
		}
		if r.State == StateReversalPending {
			return t.Enqueue(&Job{Kind: JobReversal, TxnID: r.ID, Attempts: r.Attempts, Created: r.Updated})
		}
		return nil
	})
}

// migrate2to3 opens batch 1 and puts every financial record of schema 2
// that reached the host (it has a STAN) in it, so the first batch close
// settles what was sold before batches were kept.
func migrate2to3(tx *bolt.Tx) error {
	counters := tx.Bucket(bucketCounters)
	if counters.Get(keyBatch) == nil {
		if err := counters.Put(keyBatch, binary.BigEndian.AppendUint64(nil, 1)); err != nil {
			return err
		}
	}
	txns := tx.Bucket(bucketTxns)
	c := txns.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var r Txn
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("record %.8x: %w", k, err)
		}
		if r.Batch != 0 || r.STAN == 0 {
			continue
		}
		r.Batch = 1
		nv, err := json.Marshal(&r)
		if err != nil {
			return err
		}
		if err := txns.Put(k, nv); err != nil {
			return err
		}
	}
	return nil
}

// kindRefund is terminal/host's KindRefund as records spell it.
const kindRefund = "refund"

// migrate3to4 sums every sale's approved refunds that were not voided
// into its Refunded. It only adds a field older builds ignore: the file
// stays readable to schema 3 builds (a refund one of them approves is not
// added, and the host still refuses refunds past the sale).
func migrate3to4(tx *bolt.Tx) error {
	txns := tx.Bucket(bucketTxns)
	refunded := map[string]int64{}
	if err := txns.ForEach(func(k, v []byte) error {
		var r Txn
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("record %.8x: %w", k, err)
		}
		if r.Kind == kindRefund && r.State == StateApproved && r.VoidedBy == "" && r.OrigID != "" {
			refunded[r.OrigID] += r.Amount
		}
		return nil
	}); err != nil {
		return err
	}
	for id, n := range refunded {
		seq, err := parseID(id)
		if err != nil {
			return err
		}
		r, err := get(txns, seq)
		if IsNotFound(err) {
			continue // the sale was purged; its refunds stay checked by the host
		}
		if err != nil {
			return err
		}
		r.Refunded = n
		if err := put(txns, seq, &r); err != nil {
			return err
		}
	}
	return nil
}
