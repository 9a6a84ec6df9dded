package daemon

import (
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"posd/conn/clock"
	"posd/internal/config"
	"posd/terminal/dukptkeys"
)

// stepJitter checks that a retry loop waits on fake exactly what want
// draws, n times: the first wait step, then doubling up to max, each
// between half the step and the step (inclusive: the step itself when
// closed).
func stepJitter(t *testing.T, fake *clock.Fake, want *rand.Rand, n int, step, max time.Duration, closed bool) {
	t.Helper()
	for i := range n {
		span := step / 2
		if closed {
			span++
		}
		in := step/2 + time.Duration(want.Int64N(int64(span)))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := fake.BlockUntil(ctx, 1)
		cancel()
		if err != nil {
			t.Fatalf("wait %d: the loop never waited on its clock", i)
		}
		// Counted by Fired, not read off Waiters: the loop may set its
		// next wait before this looks (CI, loaded: "not over after the
		// 1m50s drawn" though it was).
		fired := fake.Fired()
		fake.Advance(in - time.Nanosecond)
		if fake.Fired() != fired {
			t.Fatalf("wait %d: over before the %v drawn (step %v)", i, in, step)
		}
		fake.Advance(time.Nanosecond)
		if fake.Fired() != fired+1 {
			t.Fatalf("wait %d: not over after the %v drawn (step %v)", i, in, step)
		}
		step = min(2*step, max)
	}
}

// TestRemoteKeysRetryJitter: remote key loading, failing, is tried again
// after the waits its generator draws: the same seed, the same waits.
func TestRemoteKeysRetryJitter(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	cfg, err := config.Parse([]byte(`{"data_dir":"` + dir + `","host":{"addr":"127.0.0.1:1"},"sim":{"test_keys":false}}`))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(context.Background(), cfg, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeDaemon(t, d)
	if err := d.Keys.Check(); !errors.Is(err, dukptkeys.ErrNotProvisioned) {
		t.Fatalf("the DUKPT slot: %v", err)
	}
	// No KDH: every attempt fails.
	fake := clock.NewFake(time.Now())
	seed := [32]byte{'r', 'k', 'l'}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.retryRemoteKeys(ctx, fake, rand.New(rand.NewChaCha8(seed)))
	}()
	defer func() { cancel(); <-done }()
	stepJitter(t, fake, rand.New(rand.NewChaCha8(seed)), 5, 30*time.Second, time.Hour, false)
}
