package daemon

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestLogTail(t *testing.T) {
	tail := newLogTail(3)
	if got := tail.Tail(5); len(got) != 0 {
		t.Fatalf("empty tail: %q", got)
	}
	var main bytes.Buffer
	log := withTail(slog.New(slog.NewTextHandler(&main, &slog.HandlerOptions{Level: slog.LevelDebug})), tail)
	for i := range 5 {
		log.Info("line", "n", i)
	}
	log.Debug("quiet")
	log.Info("card", "pan", "4761739001010010")
	got := tail.Tail(10)
	if len(got) != 3 || !strings.Contains(got[0], "n=3") || !strings.Contains(got[1], "n=4") || !strings.Contains(got[2], "card") {
		t.Fatalf("tail %q", got)
	}
	if strings.Contains(strings.Join(got, "\n"), "4761739001010010") {
		t.Fatalf("the tail shows a PAN: %q", got)
	}
	if got := tail.Tail(1); len(got) != 1 || !strings.Contains(got[0], "card") {
		t.Fatalf("last line %q", got)
	}
	if !strings.Contains(main.String(), "quiet") || strings.Count(main.String(), "\n") != 7 {
		t.Fatalf("the main log lost records:\n%s", main.String())
	}
}
