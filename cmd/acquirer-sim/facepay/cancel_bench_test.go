package facepay

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"posd/crypto/faceseal"
	fp "posd/terminal/facepay"
	"posd/terminal/wiresec"
)

// heldPlatform is a platform holding n cancelled orders of terminal T1
// (their sessions ended), as after a busy day within DecidedTTL.
func heldPlatform(b *testing.B, n int) *Platform {
	b.Helper()
	key, err := faceseal.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	p, err := New(Opts{Key: key, Mode: wiresec.ModeAES, BDK: make([]byte, 16), Gallery: &Gallery{}})
	if err != nil {
		b.Fatal(err)
	}
	now := p.clk.Now()
	p.mu.Lock()
	for i := range n {
		o := &order{terminal: "T1", id: fmt.Sprintf("O%d", i), state: stateOpen, session: fmt.Sprintf("FS%024d", i), expires: now.Add(time.Minute)}
		p.orders[o.terminal+"|"+o.id] = o
		p.sessions[o.session] = o
		p.closeSession(o, stateCancelled, now)
	}
	p.mu.Unlock()
	return p
}

// BenchmarkCancelEnded is the cancel of an ended session (the terminal's
// retry after its cancel's answer was lost), with 1000 and 100000
// decided orders held: its cost must not grow with them.
func BenchmarkCancelEnded(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			p := heldPlatform(b, n)
			body, _ := json.Marshal(fp.CancelBody{TerminalID: "T1", Session: fmt.Sprintf("FS%024d", n/2)})
			b.ResetTimer()
			for range b.N {
				if a, ref := p.cancel("T1", body, &Entry{}); ref != nil || a.Status != fp.StatusCancelled {
					b.Fatalf("%+v %v", a, ref)
				}
			}
		})
	}
}
