// Package storetest fills a posd database with records, for the tests of
// the packages that read what the engine leaves behind (the daemon's
// status, the console, the end-to-end runs). It is test support: no
// program imports it.
package storetest

import (
	"path/filepath"
	"strconv"
	"testing"

	"posd/terminal/store"
)

// Seed stores recs, oldest first, each under the next record id (set in
// recs[i].ID), in the state each names: a state a record cannot start in
// is reached through auth_sent, as the engine reaches it. jobs, when it
// names a job kind for a record's index, queues that job for it.
func Seed(tb testing.TB, db *store.DB, recs []store.Txn, jobs map[int]store.JobKind) {
	tb.Helper()
	for i := range recs {
		err := db.Do(func(tx *store.Tx) error {
			first, err := tx.ReserveIDs(1)
			if err != nil {
				return err
			}
			r := &recs[i]
			r.ID = strconv.FormatUint(first, 10)
			if store.StateCreated.CanMove(r.State) {
				if err := tx.Insert(r); err != nil {
					return err
				}
			} else {
				end := r.State
				r.State = store.StateAuthSent
				if err := tx.Insert(r); err != nil {
					return err
				}
				if _, err := tx.Update(r.ID, func(x *store.Txn) error { x.State = end; return nil }); err != nil {
					return err
				}
				r.State = end
			}
			if k, ok := jobs[i]; ok {
				return tx.Enqueue(&store.Job{Kind: k, TxnID: r.ID})
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// SeedDir opens the database of data directory dir (posd.db), seeds it
// with recs (see Seed) and closes it, for a posd or daemon to start on.
func SeedDir(tb testing.TB, dir string, recs []store.Txn) {
	tb.Helper()
	db, err := store.Open(filepath.Join(dir, "posd.db"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	Seed(tb, db, recs, nil)
	if err := db.Close(); err != nil {
		tb.Fatal(err)
	}
}
