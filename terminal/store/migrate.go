package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// migrations[i] brings a database from schema i+1 to schema i+2. They run
// in order, in the one bbolt transaction that opens the database, so a
// crash leaves the file at its old schema or fully at the new one.
var migrations = []func(tx *bolt.Tx) error{
	migrate1to2,
	migrate2to3,
}

// migrate creates a fresh layout, or brings an older one to SchemaVersion.
// A newer schema is refused: this build cannot know what it means.
func migrate(tx *bolt.Tx, meta *bolt.Bucket) error {
	v := meta.Get(keySchema)
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
		return meta.Put(keySchema, []byte(strconv.Itoa(SchemaVersion)))
	}
	n, err := strconv.Atoi(string(v))
	if err != nil || n < 1 || n > SchemaVersion {
		return fmt.Errorf("%w: file has %q, this build reads 1 to %d", ErrSchema, v, SchemaVersion)
	}
	for ; n < SchemaVersion; n++ {
		if err := migrations[n-1](tx); err != nil {
			return fmt.Errorf("store: migrating schema %d to %d: %w", n, n+1, err)
		}
		if err := meta.Put(keySchema, []byte(strconv.Itoa(n+1))); err != nil {
			return err
		}
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
