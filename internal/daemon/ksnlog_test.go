package daemon

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"posd/terminal/dukptkeys"
	"posd/terminal/redact"
	"posd/terminal/store"
)

// TestKSNGroupsPassTheLogFilter: a KSN of digits only, which the log's
// card number filter masks whole, passes it grouped; so does one whose
// groups would make a card number (Luhn) with spaces.
func TestKSNGroupsPassTheLogFilter(t *testing.T) {
	for _, ksn := range []string{"123456789012345600000000", "476173900101001000000000", "FFFF9876543210E00000", "4761739001010010"} {
		g := ksnGroups(ksn)
		if got := redact.Digits(g); got != g {
			t.Errorf("KSN %s logged as %s, the filter makes it %s", ksn, g, got)
		}
		if strings.ReplaceAll(g, ".", "") != ksn {
			t.Errorf("KSN %s grouped as %s", ksn, g)
		}
	}
}

// TestStateLostLogsTheKSN: posd.log, through the card number filter,
// names the KSN whose state is lost (the key custodian needs it), not
// a run of '*'.
func TestStateLostLogsTheKSN(t *testing.T) {
	r := newConsoleRig(t)
	d := r.open()
	if _, err := d.Keys.Next(); err != nil {
		t.Fatal(err)
	}
	closeDaemon(t, d)
	used, err := (&dukptkeys.FileMark{Path: filepath.Join(r.dir, "dukpt-mark.json")}).Load(r.cfg.DUKPT.Slot)
	if err != nil || len(used) != 1 {
		t.Fatalf("KSN mark %v, %v", used, err)
	}
	// The database, and the DUKPT state in it, is lost; the mark stays.
	for _, name := range []string{"posd.db", "posd.db" + store.MarkerSuffix} {
		if err := os.Remove(filepath.Join(r.dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	var logBuf syncBuffer
	d, err = Open(context.Background(), r.cfg, "test", slog.New(redact.NewHandler(slog.NewTextHandler(&logBuf, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer closeDaemon(t, d)
	out := logBuf.String()
	if !strings.Contains(out, "DUKPT key state lost") {
		t.Fatalf("no state lost in the log:\n%s", out)
	}
	for base := range used {
		if !strings.Contains(out, ksnGroups(base)) {
			t.Errorf("the log does not name KSN base %s:\n%s", base, out)
		}
	}
}
