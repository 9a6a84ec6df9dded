package dukptkeys

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"posd/crypto/keystore"
	"posd/internal/testhex"
	"posd/terminal/wiresec"
)

func openKS(t *testing.T, path string) (*bbolt.DB, *keystore.Store) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	kek, _ := keystore.NewStaticKEK(make([]byte, 32))
	ks, err := keystore.Open(db, kek, nil)
	if err != nil {
		t.Fatal(err)
	}
	return db, ks
}

// Prepare hands out distinct KSNs without storing the state; Save stores
// it inside the caller's transaction; a crash before Save skips the KSN,
// never reuses it.
func TestPrepareAndSaveInTransaction(t *testing.T) {
	dir := t.TempDir()
	m := modes[1]
	db, ks := openKS(t, filepath.Join(dir, "k.db"))
	mark := &FileMark{Path: filepath.Join(dir, "mark.json")}
	src := New(ks, m.mode, "dukpt.0", func(err error) bool { return errors.Is(err, keystore.ErrNotFound) })
	src.SetMark(mark)
	if err := src.LoadFromBDK(testhex.Bytes(t, m.bdk), testhex.Bytes(t, m.iksn)); err != nil {
		t.Fatal(err)
	}
	p1, err := src.Prepare()
	if err != nil {
		t.Fatal(err)
	}
	p2, err := src.Prepare() // e.g. a reversal while a sale waits for its PIN
	if err != nil {
		t.Fatal(err)
	}
	c1, c2 := counter(t, p1.Sess.KSN()), counter(t, p2.Sess.KSN())
	if c1 == c2 {
		t.Fatalf("two pending sessions share counter %d", c1)
	}
	// The host derives the same keys for the prepared session.
	host, err := wiresec.ForHost(m.mode, testhex.Bytes(t, m.bdk), p1.Sess.KSN())
	if err != nil {
		t.Fatal(err)
	}
	mac, _ := p1.Sess.MACRequest([]byte("msg"))
	if err := host.VerifyRequestMAC([]byte("msg"), mac); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error { return p1.Save(tx) }); err != nil {
		t.Fatal(err)
	}
	db.Close()

	// Restart on what was stored: the state saved with p1 is already past
	// p2's KSN (it is the in-memory state), and the mark covers both.
	db, ks = openKS(t, filepath.Join(dir, "k.db"))
	defer db.Close()
	again := New(ks, m.mode, "dukpt.0", func(err error) bool { return errors.Is(err, keystore.ErrNotFound) })
	again.SetMark(mark)
	if err := again.Check(); err != nil {
		t.Fatal(err)
	}
	if c := next(t, again); c <= c2 {
		t.Fatalf("after restart: counter %d reused (pending %d, %d)", c, c1, c2)
	}
	// A prepared session never saved (crash before the commit): the next
	// process skips past it.
	p3, err := again.Prepare()
	if err != nil {
		t.Fatal(err)
	}
	c3 := counter(t, p3.Sess.KSN())
	crashed := New(ks, m.mode, "dukpt.0", func(err error) bool { return errors.Is(err, keystore.ErrNotFound) })
	crashed.SetMark(mark)
	if c := next(t, crashed); c <= c3 {
		t.Fatalf("counter %d of an unsaved prepared session reused (%d)", c, c3)
	}
}

func TestPrepareNeedsATransactionalStore(t *testing.T) {
	src := newMarked(memSecrets{}, wiresec.ModeAES, nil)
	if _, err := src.Prepare(); err == nil {
		t.Fatal("Prepare on a store that cannot write in a transaction")
	}
}

// A sale storing its prepared state inside its transaction while another
// write of the source runs must not deadlock: the source is never held
// while it waits for the database. (posd hung this way in CI: the sale's
// commit waited for the source, the advice held the source in Next and
// waited for the database.)
func TestNextWhileAPreparedStateIsSaved(t *testing.T) {
	testWhileAPreparedStateIsSaved(t, "Next", func(src *Source, m modeCase) error {
		sess, err := src.Next()
		if err == nil {
			sess.Wipe()
		}
		return err
	})
}

// The same with a custodian's key load instead of Next.
func TestLoadWhileAPreparedStateIsSaved(t *testing.T) {
	testWhileAPreparedStateIsSaved(t, "Load", func(src *Source, m modeCase) error {
		return src.LoadFromBDK(testhex.Bytes(t, m.bdk), testhex.Bytes(t, m.other))
	})
}

func testWhileAPreparedStateIsSaved(t *testing.T, what string, write func(*Source, modeCase) error) {
	dir := t.TempDir()
	m := modes[1]
	// The database is closed only when nothing deadlocked (a close would
	// wait for the stuck transaction).
	db, ks := openKS(t, filepath.Join(dir, "k.db"))
	src := New(ks, m.mode, "dukpt.0", func(err error) bool { return errors.Is(err, keystore.ErrNotFound) })
	src.SetMark(&FileMark{Path: filepath.Join(dir, "mark.json")})
	if err := src.LoadFromBDK(testhex.Bytes(t, m.bdk), testhex.Bytes(t, m.iksn)); err != nil {
		t.Fatal(err)
	}
	p, err := src.Prepare()
	if err != nil {
		t.Fatal(err)
	}
	entered, otherStarted := make(chan struct{}), make(chan struct{})
	saved, other := make(chan error, 1), make(chan error, 1)
	go func() {
		saved <- db.Update(func(tx *bbolt.Tx) error {
			close(entered)
			<-otherStarted
			// Give the other write the time to reach the database while
			// this transaction holds it.
			time.Sleep(100 * time.Millisecond)
			return p.Save(tx)
		})
	}()
	<-entered
	go func() {
		close(otherStarted)
		other <- write(src, m)
	}()
	for _, ch := range []chan error{saved, other} {
		select {
		case err := <-ch:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("deadlock: the prepared state's save and %s wait for each other", what)
		}
	}
	p.Sess.Wipe()
	db.Close()
}
