package daemon

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"

	"posd/terminal/redact"
)

// logTail keeps the last lines posd logged, for the service console's
// log command: text lines at info level and above, masked by the same
// redaction as the log itself.
type logTail struct {
	mu    sync.Mutex
	lines []string
	next  int
	full  bool
}

func newLogTail(n int) *logTail { return &logTail{lines: make([]string, n)} }

// Write takes one formatted record (slog's text handler writes one line
// per record).
func (t *logTail) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\n")
	t.mu.Lock()
	t.lines[t.next] = line
	t.next = (t.next + 1) % len(t.lines)
	t.full = t.full || t.next == 0
	t.mu.Unlock()
	return len(p), nil
}

// Tail returns the last n lines, oldest first.
func (t *logTail) Tail(n int) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	size := t.next
	if t.full {
		size = len(t.lines)
	}
	n = max(0, min(n, size))
	out := make([]string, 0, n)
	for i := size - n; i < size; i++ {
		out = append(out, t.lines[(t.next-size+i+len(t.lines))%len(t.lines)])
	}
	return out
}

// tee sends every record to both handlers.
type tee struct{ a, b slog.Handler }

func (h tee) Enabled(ctx context.Context, l slog.Level) bool {
	return h.a.Enabled(ctx, l) || h.b.Enabled(ctx, l)
}

func (h tee) Handle(ctx context.Context, r slog.Record) error {
	var errs []error
	if h.a.Enabled(ctx, r.Level) {
		errs = append(errs, h.a.Handle(ctx, r.Clone()))
	}
	if h.b.Enabled(ctx, r.Level) {
		errs = append(errs, h.b.Handle(ctx, r.Clone()))
	}
	return errors.Join(errs...)
}

func (h tee) WithAttrs(as []slog.Attr) slog.Handler {
	return tee{h.a.WithAttrs(as), h.b.WithAttrs(as)}
}

func (h tee) WithGroup(name string) slog.Handler {
	return tee{h.a.WithGroup(name), h.b.WithGroup(name)}
}

// withTail returns log, also writing to t (masked, text, info and above).
func withTail(log *slog.Logger, t *logTail) *slog.Logger {
	th := redact.NewHandler(slog.NewTextHandler(t, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return slog.New(tee{log.Handler(), th})
}
