//go:build !nocv

package daemon

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"posd/board/sim"
	"posd/cmd/acquirer-sim/acquirer"
	facesim "posd/cmd/acquirer-sim/facepay"
	"posd/crypto/faceseal"
	"posd/drivers/camera"
	"posd/internal/config"
	"posd/terminal/face"
	"posd/terminal/store"
	"posd/terminal/txn"
	"posd/terminal/wiresec"
)

// faceDaemon opens posd on the sim board with face pay against an
// in-process face-pay platform.
func faceDaemon(t testing.TB) *Daemon {
	t.Helper()
	key, err := faceseal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	p, err := facesim.New(facesim.Opts{Key: key, Mode: wiresec.ModeAES, BDK: acquirer.DefaultBDK(wiresec.ModeAES)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	pem, err := faceseal.MarshalPublicKey(key.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	cfg, err := config.Parse([]byte(fmt.Sprintf(`{"data_dir":%q,"host":{"addr":"127.0.0.1:1"},"face":{"url":%q,"platform_key":%q}}`,
		dir, srv.URL, pem)))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(context.Background(), cfg, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		d.Close(ctx)
	})
	if !d.FaceEnabled() {
		t.Fatalf("face pay off: %+v", d.faceStatus())
	}
	return d
}

// faceSaleIn runs one face sale as the customer does it: alice in front
// of the camera, Enter, her payment password.
func faceSaleIn(t testing.TB, d *Daemon, events <-chan txn.Event) store.Txn {
	t.Helper()
	tx, err := d.Engine.Start(txn.Request{Amount: 8800, Currency: "156", Method: txn.MethodFace})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		select {
		case ev := <-events:
			if ev.Txn.ID != tx.ID {
				continue
			}
			switch {
			case ev.Phase == txn.PhaseFaceConsent:
				if err := d.ShowFace(sim.FaceScene{Subject: "alice"}); err != nil {
					t.Fatal(err)
				}
				if err := d.Sim.Keys(ctx, "E"); err != nil {
					t.Fatal(err)
				}
			case ev.Phase == txn.PhasePIN && ev.Prompt == "password" && ev.PINDigits == 0:
				if err := d.Sim.Keys(ctx, facesim.Password("alice")+"E"); err != nil {
					t.Fatal(err)
				}
			case ev.Phase == txn.PhaseDone:
				return ev.Txn
			}
		case <-ctx.Done():
			t.Fatalf("face sale %s: no outcome; last %+v", tx.ID, d.Engine.Last())
		}
	}
}

// heapMB is the Go heap in use after a collection.
func heapMB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

// TestFaceSalesLeakNothing: after many face sales (POSD_FACE_SALES, 8
// by default, about 3 s each; make face-soak runs 100) no OpenCV matrix
// is left open, in the camera driver or the liveness pipeline, and the
// Go heap has not grown with them.
func TestFaceSalesLeakNothing(t *testing.T) {
	n := 8
	if v, err := strconv.Atoi(os.Getenv("POSD_FACE_SALES")); err == nil && v >= 6 {
		n = v
	}
	d := faceDaemon(t)
	events, stop := d.Engine.Subscribe()
	defer stop()
	var h5 float64
	approved := 0
	for i := 0; i < n; i++ {
		got := faceSaleIn(t, d, events)
		switch {
		case got.State == store.StateApproved:
			approved++
		case got.Failure == string(txn.FailFaceSpoof) || got.Failure == string(txn.FailFaceRetry):
			// A live customer refused by the liveness check (its BPCER):
			// counted, not a leak.
			t.Logf("face sale %d refused: %s %v (challenge %s)", i, got.Failure, got.Face.Reasons, got.Face.Challenge)
		default:
			t.Fatalf("face sale %d: %+v %+v", i, got, got.Face)
		}
		if i == 4 {
			h5 = heapMB()
		}
	}
	// The liveness check's BPCER is measured on the clip set
	// (cmd/faceclips); here refusals only must not be the rule, so that
	// the sales went through the whole pipeline. At the about 2 %
	// refusals seen, two of 8 happen once in a hundred runs: the bound
	// is half.
	if approved < (n+1)/2 {
		t.Fatalf("%d of %d live customers' face sales approved", approved, n)
	}
	grown := heapMB() - h5
	// The camera closes CameraIdleOff after its last frame; then every
	// matrix of its frames is released.
	deadline := time.Now().Add(10 * time.Second)
	for camera.OpenMats() != 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	st := d.faceStatus()
	t.Logf("%d face sales, %d approved: camera open mats %d, pipeline open mats %d, Go heap grew %.2f MB after the 5th sale; frames read %d",
		n, approved, camera.OpenMats(), face.OpenMats(), grown, st.FramesRead)
	if camera.OpenMats() != 0 || face.OpenMats() != 0 {
		t.Fatalf("open matrices after %d face sales: camera %d, pipeline %d", n, camera.OpenMats(), face.OpenMats())
	}
	if grown > 8 {
		t.Fatalf("the Go heap grew %.1f MB over %d face sales", grown, n-5)
	}
}

// BenchmarkFaceSale is a whole face sale in process (consent, liveness
// on the simulated camera, the platform, the password), and the memory
// it leaves behind: heap-MB/100sales is the Go heap's growth scaled to
// 100 sales, rss-MB/100sales the process's resident memory (OpenCV's
// included).
func BenchmarkFaceSale(b *testing.B) {
	d := faceDaemon(b)
	events, stop := d.Engine.Subscribe()
	defer stop()
	faceSaleIn(b, d, events) // warm up: cascades, the camera's first open
	h0, r0 := heapMB(), rssMB()
	refused := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		switch got := faceSaleIn(b, d, events); {
		case got.State == store.StateApproved:
		case got.Failure == string(txn.FailFaceSpoof) || got.Failure == string(txn.FailFaceRetry):
			refused++ // a live customer turned away: counted, as in TestFaceSalesLeakNothing
		default:
			b.Fatalf("face sale: %+v", got)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(refused)*100/float64(b.N), "refused-%")
	b.ReportMetric((heapMB()-h0)*100/float64(b.N), "heap-MB/100sales")
	b.ReportMetric((rssMB()-r0)*100/float64(b.N), "rss-MB/100sales")
}
