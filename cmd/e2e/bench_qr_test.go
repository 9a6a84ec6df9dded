package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// BenchmarkCodeInViewToRequest measures, with real processes, the time
// from a wallet payment code shown to the terminal (held in front of the
// simulated camera, which delivers 15 frames a second through OpenCV's
// QR detector, or under the serial scanner) to the pay request arriving
// at the wallet platform (its journal's timestamp; same machine clock).
func BenchmarkCodeInViewToRequest(b *testing.B) {
	for _, to := range []string{"camera", "scanner"} {
		b.Run(to, func(b *testing.B) {
			dir := b.TempDir()
			walletAddr := freePort(b)
			journal := filepath.Join(dir, "wallet.jsonl")
			e, _, cfg := newEnv(b, []string{"-wallet", walletAddr, "-wallet-journal", journal}, nil)
			editConfig(b, cfg, func(c map[string]any) {
				c["wallet"] = map[string]any{"url": "http://" + walletAddr}
			})
			posd := start(b, "posd", []string{"-config", cfg}, posdReady)
			defer posd.stop(b)
			if to == "camera" && !hasQRDecoder(e.codeReaders()) {
				b.Skip("this build reads no codes from the camera")
			}
			call := e.apiCaller(b)
			var lat []time.Duration
			// Each customer shows a code of their own: a code pays
			// once, the camera does not read the code it read last
			// again while it stays in view, and nothing decodes frames
			// between sales.
			i := 0
			for b.Loop() {
				i++
				var v struct {
					txnView
					Wallet struct {
						OrderID string `json:"order_id"`
					} `json:"wallet"`
				}
				call("POST", "/v1/sales", `{"amount":"3.00","method":"qr"}`, &v)
				shown := time.Now()
				call("POST", "/v1/sim/qr", `{"code":"`+fmt.Sprintf("13%04d%012d", len(to), i)+`","to":"`+to+`"}`, nil)
				call("GET", "/v1/txns/"+v.ID+"?wait=30s", "", &v)
				if v.State != "approved" {
					b.Fatalf("sale %s: %+v", v.ID, v)
				}
				at := payTime(b, journal, v.Wallet.OrderID)
				lat = append(lat, at.Sub(shown))
			}
			slices.Sort(lat)
			pct := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / float64(time.Millisecond)
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
		})
	}
}

// payTime is the wallet journal's time of the pay of order id.
func payTime(b *testing.B, journal, order string) time.Time {
	b.Helper()
	f, err := os.Open(journal)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l struct {
			Time    time.Time `json:"time"`
			Op      string    `json:"op"`
			OrderID string    `json:"order_id"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Op == "pay" && l.OrderID == order {
			return l.Time
		}
	}
	b.Fatalf("no pay of %s in the wallet journal", order)
	return time.Time{}
}
