package devid

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"posd/conn/clock"
)

func TestNonces(t *testing.T) {
	s := newStore(t)
	clk := clock.NewFake(epoch)
	n, err := OpenNonces(s.db, &NonceOpts{Clock: clk, TTL: time.Minute, Max: 3})
	if err != nil {
		t.Fatal(err)
	}
	a, err := n.Issue()
	if err != nil || len(a) != 16 {
		t.Fatal(a, err)
	}
	b, _ := n.Issue()
	if bytes.Equal(a, b) {
		t.Fatal("the same number twice")
	}
	if err := n.Consume(a); err != nil {
		t.Fatal(err)
	}
	if err := n.Consume(a); !errors.Is(err, ErrNonceUnknown) {
		t.Fatalf("second use: %v", err)
	}
	if err := n.Consume(bytes.Repeat([]byte{1}, 16)); !errors.Is(err, ErrNonceUnknown) {
		t.Fatalf("never issued: %v", err)
	}
	if err := n.Consume(nil); !errors.Is(err, ErrNonceUnknown) {
		t.Fatalf("empty: %v", err)
	}

	// Expiry: used up all the same.
	clk.Advance(time.Minute)
	if err := n.Consume(b); !errors.Is(err, ErrNonceExpired) {
		t.Fatalf("expired: %v", err)
	}
	if err := n.Consume(b); !errors.Is(err, ErrNonceUnknown) {
		t.Fatalf("expired, again: %v", err)
	}

	// At most Max outstanding: the oldest goes.
	var issued [][]byte
	for i := 0; i < 4; i++ {
		x, err := n.Issue()
		if err != nil {
			t.Fatal(err)
		}
		issued = append(issued, x)
		clk.Advance(time.Second)
	}
	if c, _ := n.Outstanding(); c != 3 {
		t.Fatalf("%d outstanding", c)
	}
	if err := n.Consume(issued[0]); !errors.Is(err, ErrNonceUnknown) {
		t.Fatalf("oldest kept: %v", err)
	}

	// Across a restart: issued numbers stay usable once, used ones stay used.
	if err := n.Consume(issued[1]); err != nil {
		t.Fatal(err)
	}
	s.db.Close()
	db, err := bbolt.Open(s.path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n2, err := OpenNonces(db, &NonceOpts{Clock: clk, TTL: time.Minute, Max: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := n2.Consume(issued[1]); !errors.Is(err, ErrNonceUnknown) {
		t.Fatalf("used before the restart: %v", err)
	}
	if err := n2.Consume(issued[2]); err != nil {
		t.Fatalf("issued before the restart: %v", err)
	}

	// A schema this code does not know.
	if err := db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(BucketNonces)).Put([]byte(metaSchema), []byte("9"))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenNonces(db, nil); !errors.Is(err, ErrNonceStore) {
		t.Fatalf("schema 9: %v", err)
	}
	// A newer schema that says this build can use it (a firmware rolled
	// back after a newer one): used, and its compat key is no nonce.
	if err := db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(BucketNonces)).Put([]byte(metaCompat), []byte(nonceSchema))
	}); err != nil {
		t.Fatal(err)
	}
	n3, err := OpenNonces(db, nil)
	if err != nil {
		t.Fatalf("schema 9, compat %s: %v", nonceSchema, err)
	}
	if _, err := n3.Issue(); err != nil {
		t.Fatal(err)
	}
	if err := n3.Consume([]byte("\x00compat")); !errors.Is(err, ErrNonceUnknown) {
		t.Fatalf("the compat key consumed as a nonce: %v", err)
	}
}

func TestNonceRandomFails(t *testing.T) {
	s := newStore(t)
	n, err := OpenNonces(s.db, &NonceOpts{Rand: bytes.NewReader(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Issue(); !errors.Is(err, ErrOptions) {
		t.Fatal(err)
	}
}
