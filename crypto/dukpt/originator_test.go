package dukpt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/bits"
	"math/rand/v2"
	"posd/internal/testhex"
	"testing"
)

// originatorAt builds, white-box, an originator whose current counter is c,
// filling exactly the registers the standard's device would hold there with
// keys from the receiver derivation. Stepping it then checks the
// originator's own derivations against the receiver from any point.
func originatorAt(t testing.TB, mode byte, ik, ksn []byte, c uint32) Originator {
	t.Helper()
	var e engine
	var derive func(ik, ksn []byte) ([]byte, error)
	if mode == modeTDES {
		e, derive = newTDESEngine(), TDESDeriveKeyFromIK
	} else {
		e, derive = newAESEngine(len(ik)), AESDeriveKeyFromIK
	}
	e.ksn = bytes.Clone(ksn)
	e.set(e.ksn, c)
	e.regs = make([][]byte, e.spec.bits)
	mask := e.expectedMask(c)
	for j := range e.regs {
		if mask&(1<<j) == 0 {
			continue
		}
		rk := bytes.Clone(ksn)
		e.set(rk, c&^(uint32(uint64(1)<<(j+1)-1))|1<<j)
		k, err := derive(ik, rk)
		if err != nil {
			t.Fatalf("register %d: %v", j, err)
		}
		e.regs[j] = k
	}
	if mode == modeTDES {
		return &TDESOriginator{e: e}
	}
	return &AESOriginator{e: e}
}

func TestTDESOriginatorAnnex(t *testing.T) {
	o, err := NewTDESOriginator(testhex.Bytes(t, annexIK), testhex.Bytes(t, annexIKSN))
	if err != nil {
		t.Fatal(err)
	}
	if testhex.Upper(o.KSN()) != annexIKSN {
		t.Fatalf("KSN before first Next = %s", testhex.Upper(o.KSN()))
	}
	for _, v := range tdesInitial {
		ksn, key, err := o.Next()
		if err != nil {
			t.Fatal(err)
		}
		if testhex.Upper(ksn) != v.ksn || testhex.Upper(key) != v.key || testhex.Upper(o.KSN()) != v.ksn {
			t.Fatalf("Next = %s %s, want %s %s", testhex.Upper(ksn), testhex.Upper(key), v.ksn, v.key)
		}
	}
	// Rollover table, stepping from its first entry.
	r := originatorAt(t, modeTDES, testhex.Bytes(t, annexIK), testhex.Bytes(t, annexIKSN), 0x0FF800)
	if testhex.Upper(r.KSN()) != tdesRollover[0].ksn {
		t.Fatalf("rollover start KSN %s", testhex.Upper(r.KSN()))
	}
	for _, v := range tdesRollover[1:] {
		ksn, key, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if testhex.Upper(ksn) != v.ksn || testhex.Upper(key) != v.key {
			t.Fatalf("Next = %s %s, want %s %s", testhex.Upper(ksn), testhex.Upper(key), v.ksn, v.key)
		}
	}
}

func TestAESOriginatorSupplement(t *testing.T) {
	for _, c := range []struct {
		ik  string
		col func(aesVector) string
	}{
		{supIK128, func(v aesVector) string { return v.key128 }},
		{supIK256, func(v aesVector) string { return v.key256 }},
	} {
		o, err := NewAESOriginator(testhex.Bytes(t, c.ik), testhex.Bytes(t, "1234567890123456"))
		if err != nil {
			t.Fatal(err)
		}
		if testhex.Upper(o.KSN()) != supIKSN {
			t.Fatalf("initial KSN %s", testhex.Upper(o.KSN()))
		}
		for _, v := range aesTxnKeys[:8] {
			ksn, key, err := o.Next()
			if err != nil {
				t.Fatal(err)
			}
			if testhex.Upper(ksn) != v.ksn || testhex.Upper(key) != c.col(v) {
				t.Fatalf("Next = %s %s, want %s %s", testhex.Upper(ksn), testhex.Upper(key), v.ksn, c.col(v))
			}
		}
		// From 0001FFFE on: 00020000 and 00020001 (0001FFFF is skipped).
		r := originatorAt(t, modeAES, testhex.Bytes(t, c.ik), testhex.Bytes(t, supIKSN), 0x1FFFE)
		for _, v := range aesTxnKeys[9:11] {
			ksn, key, err := r.Next()
			if err != nil || testhex.Upper(ksn) != v.ksn || testhex.Upper(key) != c.col(v) {
				t.Fatalf("Next = %s %s %v, want %s %s", testhex.Upper(ksn), testhex.Upper(key), err, v.ksn, c.col(v))
			}
		}
		// The last four counters, then exhaustion.
		r = originatorAt(t, modeAES, testhex.Bytes(t, c.ik), testhex.Bytes(t, supIKSN), 0xFFFE2000)
		for _, v := range aesTxnKeys[12:] {
			ksn, key, err := r.Next()
			if err != nil || testhex.Upper(ksn) != v.ksn || testhex.Upper(key) != c.col(v) {
				t.Fatalf("Next = %s %s %v, want %s %s", testhex.Upper(ksn), testhex.Upper(key), err, v.ksn, c.col(v))
			}
		}
		for range 2 {
			if _, _, err := r.Next(); !errors.Is(err, ErrExhausted) {
				t.Fatalf("after FFFF0000: err = %v, want ErrExhausted", err)
			}
		}
		if testhex.Upper(r.KSN()) != "1234567890123456FFFF0000" {
			t.Fatalf("KSN after exhaustion %s", testhex.Upper(r.KSN()))
		}
	}
}

type flavour struct {
	name    string
	mode    byte
	ik, ksn []byte
	newO    func(ik, ksn []byte) (Originator, error)
	derive  func(ik, ksn []byte) ([]byte, error)
	maxOnes int
	bits    uint
}

func flavours(t testing.TB) []flavour {
	newT := func(ik, ksn []byte) (Originator, error) { return NewTDESOriginator(ik, ksn) }
	newA := func(ik, ksn []byte) (Originator, error) { return NewAESOriginator(ik, ksn) }
	return []flavour{
		{"TDES", modeTDES, testhex.Bytes(t, annexIK), testhex.Bytes(t, annexIKSN), newT, TDESDeriveKeyFromIK, 10, 21},
		{"AES-128", modeAES, testhex.Bytes(t, supIK128), testhex.Bytes(t, supIKSN), newA, AESDeriveKeyFromIK, 16, 32},
		{"AES-192", modeAES, testhex.Bytes(t, "000102030405060708090A0B0C0D0E0F1011121314151617"), testhex.Bytes(t, supIKSN), newA, AESDeriveKeyFromIK, 16, 32},
		{"AES-256", modeAES, testhex.Bytes(t, supIK256), testhex.Bytes(t, supIKSN), newA, AESDeriveKeyFromIK, 16, 32},
	}
}

// The originator and the receiver agree on every transaction from the
// start, and the KSNs are exactly the valid counters in increasing order.
func TestOriginatorMatchesReceiverSequential(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	for _, f := range flavours(t) {
		t.Run(f.name, func(t *testing.T) {
			o, err := f.newO(f.ik, f.ksn)
			if err != nil {
				t.Fatal(err)
			}
			var prev uint32
			for i := 0; i < n; i++ {
				ksn, key, err := o.Next()
				if err != nil {
					t.Fatal(err)
				}
				c, _ := KSNCounter(ksn)
				for m := prev + 1; m < c; m++ {
					if bits.OnesCount32(m) <= f.maxOnes {
						t.Fatalf("counter %X skipped", m)
					}
				}
				prev = c
				want, err := f.derive(f.ik, ksn)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(key, want) {
					t.Fatalf("counter %X: originator %s, receiver %s", c, testhex.Upper(key), testhex.Upper(want))
				}
			}
		})
	}
}

// randomValidCounter draws a counter with between one and maxOnes one-bits
// at random positions (so counters at the one-bit limit, where the
// originator skips, are common) that still has a successor.
func randomValidCounter(r *rand.Rand, nbits uint, maxOnes int) uint32 {
	for {
		var c uint32
		for w := 1 + r.IntN(maxOnes); bits.OnesCount32(c) < w; {
			c |= 1 << r.IntN(int(nbits))
		}
		if _, ok := (counterSpec{nbits, maxOnes}).next(uint64(c)); ok {
			return c
		}
	}
}

// From thousands of random points of the counter space the originator's
// next steps agree with the receiver.
func TestOriginatorMatchesReceiverRandom(t *testing.T) {
	points, steps := 400, 8
	if testing.Short() {
		points = 60
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, f := range flavours(t) {
		t.Run(f.name, func(t *testing.T) {
			for range points {
				c := randomValidCounter(r, f.bits, f.maxOnes)
				o := originatorAt(t, f.mode, f.ik, f.ksn, c)
				for range steps {
					ksn, key, err := o.Next()
					if errors.Is(err, ErrExhausted) {
						break
					}
					if err != nil {
						t.Fatalf("from %X: %v", c, err)
					}
					want, err := f.derive(f.ik, ksn)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(key, want) {
						t.Fatalf("from %X at %s: originator %s, receiver %s", c, testhex.Upper(ksn), testhex.Upper(key), testhex.Upper(want))
					}
				}
			}
		})
	}
}

func TestTDESOriginatorExhaustion(t *testing.T) {
	o := originatorAt(t, modeTDES, testhex.Bytes(t, annexIK), testhex.Bytes(t, annexIKSN), 0x1FF400)
	ksn, _, err := o.Next()
	if err != nil || testhex.Upper(ksn) != "FFFF9876543210FFF800" {
		t.Fatalf("Next = %s, %v", testhex.Upper(ksn), err)
	}
	for range 2 {
		if _, _, err := o.Next(); !errors.Is(err, ErrExhausted) {
			t.Fatalf("err = %v, want ErrExhausted", err)
		}
	}
	if _, err := NextKSN(ksn); !errors.Is(err, ErrExhausted) {
		t.Fatalf("NextKSN err = %v", err)
	}
	// The exhausted state still saves and restores, and stays exhausted.
	st, err := o.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	r, err := UnmarshalOriginator(st)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Next(); !errors.Is(err, ErrExhausted) {
		t.Fatalf("restored: err = %v", err)
	}
}

// The whole TDES counter space: 2^20 - 1 transactions (the counters of 21
// bits with one to ten one-bits), then ErrExhausted.
func TestTDESOriginatorFullSpace(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("walks a million transactions")
	}
	o, err := NewTDESOriginator(testhex.Bytes(t, annexIK), testhex.Bytes(t, annexIKSN))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	var last []byte
	for {
		ksn, _, err := o.Next()
		if errors.Is(err, ErrExhausted) {
			break
		}
		if err != nil {
			t.Fatalf("after %d: %v", n, err)
		}
		last = ksn
		n++
	}
	if n != 1<<20-1 || testhex.Upper(last) != "FFFF9876543210FFF800" {
		t.Fatalf("%d transactions, last %s", n, testhex.Upper(last))
	}
}

// Concurrent callers each get distinct transactions and together consume
// exactly the sequential KSNs.
func TestOriginatorConcurrentNext(t *testing.T) {
	o, err := NewAESOriginator(testhex.Bytes(t, supIK128), testhex.Bytes(t, supIKSN))
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 4, 100
	got := make(chan string, workers*each)
	done := make(chan struct{})
	for range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for range each {
				ksn, key, err := o.Next()
				if err != nil {
					t.Error(err)
					return
				}
				want, _ := AESDeriveKeyFromIK(testhex.Bytes(t, supIK128), ksn)
				if !bytes.Equal(key, want) {
					t.Errorf("%s: wrong key", testhex.Upper(ksn))
				}
				got <- testhex.Upper(ksn)
			}
		}()
	}
	for range workers {
		<-done
	}
	close(got)
	seen := map[string]bool{}
	for k := range got {
		seen[k] = true
	}
	ksn := testhex.Bytes(t, supIKSN)
	for range workers * each {
		ksn, _ = NextKSN(ksn)
		if !seen[testhex.Upper(ksn)] {
			t.Fatalf("KSN %s not handed out", testhex.Upper(ksn))
		}
	}
	if len(seen) != workers*each {
		t.Fatalf("%d distinct KSNs, want %d", len(seen), workers*each)
	}
}

func TestOriginatorResume(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, f := range flavours(t) {
		t.Run(f.name, func(t *testing.T) {
			for trial := range 5 {
				o, err := f.newO(f.ik, f.ksn)
				if err != nil {
					t.Fatal(err)
				}
				for range r.IntN(600) {
					if _, _, err := o.Next(); err != nil {
						t.Fatal(err)
					}
				}
				st, err := o.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				back, err := UnmarshalOriginator(st)
				if err != nil {
					t.Fatalf("trial %d: %v", trial, err)
				}
				if !bytes.Equal(back.KSN(), o.KSN()) {
					t.Fatalf("KSN %s, want %s", testhex.Upper(back.KSN()), testhex.Upper(o.KSN()))
				}
				st2, _ := back.MarshalBinary()
				if !bytes.Equal(st, st2) {
					t.Fatal("state does not round-trip")
				}
				for range 300 {
					k1, v1, e1 := o.Next()
					k2, v2, e2 := back.Next()
					if e1 != nil || e2 != nil || !bytes.Equal(k1, k2) || !bytes.Equal(v1, v2) {
						t.Fatalf("diverged: %s/%s vs %s/%s (%v, %v)", testhex.Upper(k1), testhex.Upper(v1), testhex.Upper(k2), testhex.Upper(v2), e1, e2)
					}
				}
			}
		})
	}
}

func TestUnmarshalOriginatorRejects(t *testing.T) {
	o, err := NewAESOriginator(testhex.Bytes(t, supIK128), testhex.Bytes(t, supIKSN))
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		o.Next()
	}
	good, _ := o.MarshalBinary()
	reseal := func(b []byte) []byte {
		b = bytes.Clone(b[:len(b)-4])
		return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	}
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := map[string][]byte{
		"empty":       nil,
		"short":       good[:10],
		"truncated":   good[:len(good)-1],
		"flipped bit": mut(func(b []byte) []byte { b[20] ^= 1; return b }),
		"bad magic":   reseal(mut(func(b []byte) []byte { b[0] = 'X'; return b })),
		"bad version": reseal(mut(func(b []byte) []byte { b[4] = 9; return b })),
		"bad mode":    reseal(mut(func(b []byte) []byte { b[5] = 7; return b })),
		"TDES mode":   reseal(mut(func(b []byte) []byte { b[5] = modeTDES; return b })),
		"bad key len": reseal(mut(func(b []byte) []byte { b[6] = 17; return b })),
		"bad KSN len": reseal(mut(func(b []byte) []byte { b[7] = 10; return b })),
		"counter moved": reseal(mut(func(b []byte) []byte {
			b[8+11] = 0x10 // counter 5 -> 16: register set no longer fits
			return b
		})),
		"too many ones": reseal(mut(func(b []byte) []byte {
			copy(b[8+8:], []byte{0x00, 0x01, 0xFF, 0xFF})
			return b
		})),
		"extra key": reseal(append(mut(func(b []byte) []byte { return b[:len(b)-4] }), make([]byte, 20)...)),
	}
	for name, st := range cases {
		if _, err := UnmarshalOriginator(st); !errors.Is(err, ErrState) {
			t.Errorf("%s: err = %v, want ErrState", name, err)
		}
	}
	var to TDESOriginator
	if err := to.UnmarshalBinary(good); !errors.Is(err, ErrState) {
		t.Errorf("AES state into TDES originator: err = %v", err)
	}
}

func TestOriginatorWipe(t *testing.T) {
	for _, f := range flavours(t) {
		o, err := f.newO(f.ik, f.ksn)
		if err != nil {
			t.Fatal(err)
		}
		o.Next()
		var regs [][]byte
		switch v := o.(type) {
		case *TDESOriginator:
			regs = append(regs, v.e.regs...)
		case *AESOriginator:
			regs = append(regs, v.e.regs...)
		}
		o.Wipe()
		for j, r := range regs {
			for _, b := range r {
				if b != 0 {
					t.Fatalf("%s: register %d not zeroed", f.name, j)
				}
			}
		}
		if _, _, err := o.Next(); !errors.Is(err, ErrState) {
			t.Errorf("%s: Next after Wipe err = %v", f.name, err)
		}
		if _, err := o.MarshalBinary(); !errors.Is(err, ErrState) {
			t.Errorf("%s: MarshalBinary after Wipe err = %v", f.name, err)
		}
	}
	var zero AESOriginator
	if _, _, err := zero.Next(); !errors.Is(err, ErrState) {
		t.Errorf("zero originator: err = %v", err)
	}
}

func TestNewOriginatorErrors(t *testing.T) {
	ik := testhex.Bytes(t, annexIK)
	if _, err := NewTDESOriginator(ik[:8], testhex.Bytes(t, annexIKSN)); !errors.Is(err, ErrKeyLength) {
		t.Errorf("short IK: %v", err)
	}
	if _, err := NewTDESOriginator(ik, testhex.Bytes(t, supIKSN)); !errors.Is(err, ErrKSNLength) {
		t.Errorf("AES KSN: %v", err)
	}
	if _, err := NewTDESOriginator(ik, testhex.Bytes(t, "FFFF9876543210E00001")); !errors.Is(err, ErrState) {
		t.Errorf("non-zero counter: %v", err)
	}
	if _, err := NewAESOriginator(ik[:10], testhex.Bytes(t, supIKSN)); !errors.Is(err, ErrKeyLength) {
		t.Errorf("AES short IK: %v", err)
	}
	if _, err := NewAESOriginator(ik, testhex.Bytes(t, annexIKSN)); !errors.Is(err, ErrKSNLength) {
		t.Errorf("AES with TDES KSN: %v", err)
	}
	if _, err := NewAESOriginator(ik, testhex.Bytes(t, "123456789012345600000001")); !errors.Is(err, ErrState) {
		t.Errorf("AES non-zero counter: %v", err)
	}
	o, _ := NewAESOriginator(testhex.Bytes(t, supIK256), testhex.Bytes(t, supIKSN))
	if o.KeyType() != KeyAES256 {
		t.Errorf("KeyType = %v", o.KeyType())
	}
}
