package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkSaleEndToEnd times sales through the real processes on
// loopback: posd on the simulated board and acquirer-sim, from the
// cashier's POST /v1/sales to the outcome on GET /v1/txns/ID?wait, with
// the card presented through the simulator's API at once. The swiped card
// has no device latency (the stripe reader's simulator writes its line at
// once); the chip cards keep the simulated board's modelled links (PN532
// 106 kbit/s air time, TDA8029 at 38400 baud), so their figures include
// the card's own exchange. p50-ms and p99-ms are over the benchmark's
// sales; each sale also waits for its commits (fsync) as posd does.
func BenchmarkSaleEndToEnd(b *testing.B) {
	for _, card := range []string{"visa-classic", "tap:mastercard-debit", "insert:visa-credit"} {
		b.Run(strings.ReplaceAll(card, ":", "-"), func(b *testing.B) {
			e, _, cfg := newEnv(b, nil, nil)
			withEMVParams(b, cfg, func(aid map[string]any) { delete(aid, "random_selection") })
			// One card pays every sale: the per-card velocity rule (100
			// a day by default) would refuse the 101st.
			editConfig(b, cfg, func(c map[string]any) { c["risk"] = map[string]any{"velocity": map[string]any{"enabled": false}} })
			posd := start(b, "posd", []string{"-config", cfg}, posdReady)
			defer posd.stop(b)
			call := e.apiCaller(b)
			f := strings.Split(card, ":")
			present, name := "/v1/sim/swipe", f[0]
			if len(f) == 2 {
				present, name = "/v1/sim/"+f[0], f[1]
			}
			var lat []time.Duration
			i := 0
			for b.Loop() {
				i++
				amount := fmt.Sprintf("%d.%02d", 1+i%9, 10+i%40) // below the CVM limit, never a magic ending
				start := time.Now()
				var v txnView
				call("POST", "/v1/sales", `{"amount":"`+amount+`"}`, &v)
				call("POST", present, `{"card":"`+name+`"}`, nil)
				call("GET", "/v1/txns/"+v.ID+"?wait=30s", "", &v)
				lat = append(lat, time.Since(start))
				if v.State != "approved" {
					b.Fatalf("sale %d: %+v", i, v)
				}
				if len(f) == 2 {
					call("POST", "/v1/sim/remove", `{}`, nil)
				}
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

// apiCaller returns a function that calls posd's API with its token and
// decodes the answer into v (when not nil); a failure ends the benchmark.
func (e *env) apiCaller(b *testing.B) func(method, path, body string, v any) {
	token := e.apiToken()
	return func(method, path, body string, v any) {
		req, _ := http.NewRequest(method, "http://"+e.api+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			b.Fatalf("%s %s: %s", method, path, resp.Status)
		}
		if v != nil {
			json.NewDecoder(resp.Body).Decode(v)
		}
	}
}
