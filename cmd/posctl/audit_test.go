package main

import (
	"strings"
	"testing"
)

// TestAuditHelpSaysTheOrder: posctl audit prints what GET /v1/audit
// returns, console.Audit's newest entries oldest first (as a log tail
// reads); the help must not promise the other order.
func TestAuditHelpSaysTheOrder(t *testing.T) {
	out, _, _ := runCLI(t, "help")
	var line string
	for l := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "audit ") {
			line = l
		}
	}
	if !strings.Contains(line, "oldest first") || strings.Contains(line, "newest first") {
		t.Fatalf("help: %q", line)
	}
}
