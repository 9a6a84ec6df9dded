package daemon

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"posd/internal/config"
	"posd/terminal/store"
)

func openTest(t *testing.T, dir string) *Daemon {
	t.Helper()
	cfg, err := config.Parse([]byte(`{"data_dir":"` + dir + `","host":{"addr":"127.0.0.1:1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(context.Background(), cfg, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestOpenStatusClose(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	d := openTest(t, dir)
	st := d.Status()
	if st.Board != "sim" || st.TerminalID != "POS00001" || st.Dialect != "ascii87" || st.DUKPTMode != "aes" ||
		st.KSN == "" || st.KeyError != "" || st.ActiveSale != "" || st.Version != "test" || st.PendingReversals != 0 {
		t.Fatalf("status: %+v", st)
	}
	if d.Sim == nil || !d.Healthy() {
		t.Fatal("sim board or database missing")
	}
	if _, err := d.Echo(context.Background()); err == nil {
		t.Fatal("echo to a closed port succeeded")
	}
	x := store.Txn{Kind: "purchase", Amount: 1, Currency: "156", State: store.StateCreated}
	d.DB.Create(&x)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir: %v %v", fi, err)
	}
	// Reopen: the record left created is recovered as failed.
	d = openTest(t, dir)
	defer d.Close(context.Background())
	if got, _ := d.DB.Get(x.ID); got.State != store.StateFailed || got.Failure != "interrupted" {
		t.Fatalf("recovered record: %+v", got)
	}
}

func TestOpenFailureStopsWhatStarted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "posd.db"), nil, 0o600) // empty: damaged
	cfg, _ := config.Parse([]byte(`{"data_dir":"` + dir + `"}`))
	if _, err := Open(context.Background(), cfg, "test", nil); !errors.Is(err, store.ErrDamaged) {
		t.Fatalf("open on a damaged database: %v", err)
	}
}

func TestCloseWithinGivesUp(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := closeWithin(ctx, func() error { <-block; return nil }, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("closeWithin: %v", err)
	}
	want := errors.New("closed with an error")
	if err := closeWithin(context.Background(), func() error { return want }, slog.New(slog.DiscardHandler)); err != want {
		t.Fatalf("closeWithin error: %v", err)
	}
}
