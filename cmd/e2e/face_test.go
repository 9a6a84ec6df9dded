package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"posd/board/sim/facescene"
	facepaysim "posd/cmd/acquirer-sim/facepay"
)

// faceView is a face sale as posctl prints it.
type faceView struct {
	ID       string `json:"id"`
	State    string `json:"state"`
	Failure  string `json:"failure"`
	RiskRule string `json:"risk_rule"`
	CVM      string `json:"cvm"`
	Error    string `json:"error"`
	Face     *struct {
		ConsentAt     string             `json:"consent_at"`
		Challenge     string             `json:"challenge"`
		Decision      string             `json:"decision"`
		Attempts      int                `json:"attempts"`
		Scores        map[string]float64 `json:"scores"`
		Reasons       []string           `json:"reasons"`
		MaskedAccount string             `json:"masked_account"`
		Status        string             `json:"status"`
		PlatformTxnID string             `json:"platform_txn_id"`
	} `json:"face"`
}

// faceStatus is face pay's part of posctl status.
type faceStatus struct {
	Face struct {
		Enabled    bool   `json:"enabled"`
		Why        string `json:"why"`
		FramesRead int64  `json:"frames_read"`
		Camera     *struct {
			On     bool  `json:"on"`
			Frames int64 `json:"frames_delivered"`
		} `json:"camera"`
	} `json:"face"`
}

func (e *env) faceStatus() faceStatus {
	e.t.Helper()
	out, code := e.posctl("status")
	var st faceStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 {
		e.t.Fatalf("status: %d %s", code, out)
	}
	return st
}

// waitPhase waits until the customer display shows phase (or a final
// screen, returned as it is).
func (e *env) waitPhase(phase string) screen {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		d := e.display()
		switch d.Phase {
		case phase, "approved", "declined", "failed", "unconfirmed":
			return d
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("display never showed %s: %+v", phase, d)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// faceScene is who stands in front of the camera: posctl sim face's
// arguments.
type faceScene []string

// faceSale runs `posctl sale --method face --wait`: the scene goes in
// front of the camera, the customer consents with keys (E: consent, X:
// decline, "": nothing) and, when the display asks for it, types the
// payment password. It returns the sale and posctl's exit status.
func (e *env) faceSale(amount string, scene faceScene, consent, password string) (faceView, int, string) {
	e.t.Helper()
	ch := e.posctlAsync("sale", "--amount", amount, "--method", "face", "--wait", "--timeout", "90s")
	var printed strings.Builder
	// The sale is open (the display no longer shows the last one's
	// outcome), or already over (refused at once).
	var early *posctlRun
	for deadline := time.Now().Add(20 * time.Second); early == nil; {
		var st struct {
			Active string `json:"active_sale"`
		}
		out, _ := e.posctl("status")
		json.Unmarshal([]byte(out), &st)
		if st.Active != "" {
			break
		}
		select {
		case r := <-ch:
			early = &r
		default:
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("face sale never became active: %s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if early != nil {
		ch <- *early
	} else if d := e.waitPhase("face_consent"); d.Phase == "face_consent" {
		if scene != nil {
			out, code := e.posctl(append([]string{"sim", "face"}, scene...)...)
			printed.WriteString(out)
			if code != 0 {
				e.t.Fatalf("sim face %v: %d %s", scene, code, out)
			}
		}
		if consent != "" {
			if out, code := e.posctl("sim", "keys", consent); code != 0 {
				e.t.Fatalf("sim keys: %d %s", code, out)
			}
		}
		if password != "" {
			if d := e.waitPhase("password"); d.Phase == "password" {
				if out, code := e.posctl("sim", "keys", password+"E"); code != 0 {
					e.t.Fatalf("sim keys: %d %s", code, out)
				}
			}
		}
	}
	r := <-ch
	printed.WriteString(r.out)
	var v faceView
	if err := json.NewDecoder(strings.NewReader(r.out)).Decode(&v); err != nil {
		e.t.Fatalf("face sale output %q: %v", r.out, err)
	}
	return v, r.code, printed.String()
}

// faceEnv starts acquirer-sim with the face-pay platform and a posd
// that pins its key.
func faceEnv(t *testing.T, posdCfg func(c map[string]any)) (*env, *proc, *proc, string) {
	dir := t.TempDir()
	faceAddr := freePort(t)
	pub := filepath.Join(dir, "face-platform.pem")
	journal := filepath.Join(dir, "face.jsonl")
	e, acq, cfg := newEnv(t, []string{"-face", faceAddr, "-face-key", filepath.Join(dir, "face-platform-key.pem"),
		"-face-pub-out", pub, "-face-journal", journal}, nil)
	editConfig(t, cfg, func(c map[string]any) {
		c["face"] = map[string]any{"url": "http://" + faceAddr, "platform_key_file": pub, "consent_timeout": "20s"}
		if posdCfg != nil {
			posdCfg(c)
		}
	})
	posd := start(t, "posd", []string{"-config", cfg}, posdReady)
	return e, acq, posd, journal
}

// TestFacePayEndToEnd: face sales with real processes. Consent first (no
// frame is read before it), liveness on the simulated camera, the crop
// sealed to the platform, the payment password; refusals of attacks, of
// two faces, over the limit; and no picture anywhere afterwards.
func TestFacePayEndToEnd(t *testing.T) {
	t.Parallel() // a long one: see TestMain
	if buildTags == "nocv" {
		t.Skip("face pay needs OpenCV (this is the nocv build)")
	}
	e, acq, posd, journal := faceEnv(t, nil)
	defer acq.stop(t)
	var printed strings.Builder
	alice := faceScene{"--subject", "alice"}

	// No consent: nothing looks at the customer.
	before := e.faceStatus()
	if !before.Face.Enabled || before.Face.Camera == nil || before.Face.Camera.On {
		t.Fatalf("face pay before any sale: %+v", before.Face)
	}
	v, _, out := e.faceSale("12.00", alice, "X", "")
	printed.WriteString(out)
	after := e.faceStatus()
	if v.State != "failed" || v.Failure != "face_no_consent" {
		t.Fatalf("declined consent: %+v", v)
	}
	if after.Face.FramesRead != before.Face.FramesRead || after.Face.Camera.Frames != before.Face.Camera.Frames || after.Face.Camera.On {
		t.Fatalf("frames were read without consent: before %+v after %+v", before.Face.Camera, after.Face.Camera)
	}

	// The right password: approved, the record keeps the consent, the
	// liveness decision and the platform's answer.
	v, code, out := e.faceSale("88.00", alice, "E", facePassword("alice"))
	printed.WriteString(out)
	if v.State != "approved" || code != 0 || v.Face == nil || v.Face.Decision != "live" || v.Face.ConsentAt == "" ||
		v.Face.MaskedAccount == "" || v.Face.PlatformTxnID == "" || v.CVM != "payment_password" {
		t.Fatalf("face sale: exit %d %+v %+v", code, v, v.Face)
	}
	if st := e.faceStatus(); st.Face.FramesRead <= after.Face.FramesRead {
		t.Fatalf("a face sale read no frame: %+v", st.Face)
	}

	// The wrong password: declined.
	v, _, out = e.faceSale("20.00", faceScene{"--subject", "bob"}, "E", "000000")
	printed.WriteString(out)
	if v.State != "declined" {
		t.Fatalf("wrong password: %+v", v)
	}

	// Attacks and a bystander: refused before anything leaves.
	for _, tc := range []struct {
		scene faceScene
		want  string
	}{
		{faceScene{"--subject", "alice", "--attack", "print"}, "print"},
		{faceScene{"--subject", "alice", "--attack", "screen"}, "screen"},
		{faceScene{"--subject", "alice", "--second", "chen"}, "two faces"},
	} {
		v, _, out = e.faceSale("30.00", tc.scene, "E", "")
		printed.WriteString(out)
		if v.State != "failed" || (v.Failure != "face_spoof" && v.Failure != "face_retry") || v.Face == nil || v.Face.Decision == "live" {
			t.Fatalf("%s: %+v %+v", tc.want, v, v.Face)
		}
		// A bystander is not a spoof: the customer is asked to try
		// again (face.attempts, 2), then the sale fails.
		if tc.want == "two faces" && (!strings.Contains(strings.Join(v.Face.Reasons, ","), "two faces") || v.Face.Attempts != 2) {
			t.Fatalf("two faces: reasons %v after %d checks", v.Face.Reasons, v.Face.Attempts)
		}
		if v.Face.PlatformTxnID != "" || v.Face.MaskedAccount != "" {
			t.Fatalf("%s reached the platform: %+v", tc.want, v.Face)
		}
	}

	// Over the face-pay limit (1000.00): refused before the consent.
	framesBefore := e.faceStatus().Face.FramesRead
	v, _, out = e.faceSale("1200.00", nil, "", "")
	printed.WriteString(out)
	if v.State != "failed" || v.Failure != "risk_refused" || v.RiskRule != "max_amount_face" {
		t.Fatalf("over the limit: %+v", v)
	}
	if e.faceStatus().Face.FramesRead != framesBefore {
		t.Fatal("frames read for a sale over the limit")
	}

	// The customer touches "Pay by face" on the display while a card
	// sale waits for a card: the same sale goes on as face pay.
	printed.WriteString(e.faceChosenOnTheDisplay())

	// posctl face check: posd's pipeline on recorded clips.
	for _, tc := range []struct {
		scene     facescene.Scene
		challenge string
		live      bool
	}{
		{facescene.Scene{Subject: "chen", Action: facescene.Blink, Seed: 41}, "blink", true},
		{facescene.Scene{Subject: "chen", Attack: facescene.Print, Seed: 42}, "left", false},
	} {
		dir := writeClip(t, tc.scene)
		out, code := e.posctl("face", "check", "--clip", dir, "--challenge", tc.challenge)
		printed.WriteString(out)
		var r struct {
			Decision string             `json:"decision"`
			Scores   map[string]float64 `json:"scores"`
			Frames   int                `json:"frames"`
			MS       int64              `json:"ms"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil || code != 0 || (r.Decision == "live") != tc.live || r.Frames == 0 || len(r.Scores) == 0 {
			t.Fatalf("face check of %+v: exit %d %s", tc.scene, code, out)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}

	posd.stop(t)
	acq.stop(t)
	j, _ := os.ReadFile(journal)
	checkFaceJournal(t, j)
	privacyScan(t, map[string][]byte{"posd's log": posd.stderr.Bytes(), "acquirer-sim's log": acq.stderr.Bytes(),
		"the face-pay journal": j, "posctl's output": []byte(printed.String())}, e.dataDir)
}

// checkFaceJournal: the platform received only ciphertext.
func checkFaceJournal(t *testing.T, j []byte) {
	t.Helper()
	identifies := 0
	for _, line := range bytes.Split(bytes.TrimSpace(j), []byte("\n")) {
		var l map[string]any
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatalf("journal line %q: %v", line, err)
		}
		if l["op"] != "identify" {
			continue
		}
		identifies++
		if ent, _ := l["sealed_entropy"].(float64); ent < 7.5 {
			t.Fatalf("identify with low-entropy sealed data: %s", line)
		}
		if l["jpeg_in_body"] != false {
			t.Fatalf("identify body held a picture: %s", line)
		}
	}
	if identifies < 2 {
		t.Fatalf("%d identify lines in the face-pay journal", identifies)
	}
}

// privacyScan: no picture (file, JPEG or PNG signature) in the data
// directory, the database, the logs, the journal or posctl's output.
func privacyScan(t *testing.T, texts map[string][]byte, dataDir string) {
	t.Helper()
	sigs := map[string][]byte{"JPEG": {0xFF, 0xD8, 0xFF}, "PNG": []byte("\x89PNG"), "JFIF": []byte("JFIF\x00")}
	check := func(what string, b []byte) {
		for name, sig := range sigs {
			if bytes.Contains(b, sig) {
				t.Errorf("%s holds a %s signature", what, name)
			}
		}
	}
	for what, b := range texts {
		check(what, b)
	}
	files := 0
	err := filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		switch strings.ToLower(filepath.Ext(path)) {
		case ".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".raw", ".yuv":
			t.Errorf("picture file in the data directory: %s", path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		check(path, b)
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("scanning %s: %d files, %v", dataDir, files, err)
	}
}

// TestFacePayWithoutCamera: a terminal whose camera is missing refuses
// face pay clearly and still takes cards.
func TestFacePayWithoutCamera(t *testing.T) {
	e, acq, posd, _ := faceEnv(t, func(c map[string]any) {
		c["sim"] = map[string]any{"test_keys": true, "no_camera": true}
	})
	defer acq.stop(t)
	defer posd.stop(t)
	st := e.faceStatus()
	if st.Face.Enabled || st.Face.Why == "" {
		t.Fatalf("face pay without a camera: %+v", st.Face)
	}
	v, _, _ := e.faceSale("10.00", nil, "E", "")
	// The nocv build has no camera at all, and says first that it has no
	// OpenCV.
	if v.State != "failed" || v.Failure != "face_unavailable" || !strings.Contains(v.Error, "camera") && !strings.Contains(v.Error, "OpenCV") {
		t.Fatalf("face sale without a camera: %+v", v)
	}
	if c, code := e.sale("10.00", "visa-classic"); c.State != "approved" || code != 0 {
		t.Fatalf("card sale without a camera: %+v %d", c, code)
	}
}

// facePassword is the payment password of a test identity at
// acquirer-sim's face-pay platform.
func facePassword(name string) string { return facepaysim.Password(name) }

// writeClip writes a generated clip as PNG frames into a new directory
// (outside posd's data directory), for posctl face check.
func writeClip(t *testing.T, sc facescene.Scene) string {
	t.Helper()
	c, err := facescene.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var bgr []byte
	for i := 0; i < c.Len(); i++ {
		bgr = c.FrameBGR(i, bgr)
		img := image.NewRGBA(image.Rect(0, 0, facescene.W, facescene.H))
		for k := 0; k < facescene.W*facescene.H; k++ {
			img.Pix[4*k], img.Pix[4*k+1], img.Pix[4*k+2], img.Pix[4*k+3] = bgr[3*k+2], bgr[3*k+1], bgr[3*k], 255
		}
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("frame%03d.png", i)))
		if err != nil {
			t.Fatal(err)
		}
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(f, img)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// faceChosenOnTheDisplay: a card sale; the customer touches "Pay by face"
// on the kiosk page; the same sale ends approved by face.
func (e *env) faceChosenOnTheDisplay() string {
	e.t.Helper()
	ch := e.posctlAsync("sale", "--amount", "15.00", "--wait", "--timeout", "90s")
	deadline := time.Now().Add(30 * time.Second)
	var choice string
	for {
		var d struct {
			Phase   string `json:"phase"`
			Choices []struct {
				ID string `json:"id"`
			} `json:"choices"`
		}
		resp, err := http.Get("http://" + e.api + "/display.json")
		if err != nil {
			e.t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&d)
		resp.Body.Close()
		// The button names the sale it was shown for ("face:ID"), as the
		// kiosk page posts it.
		if d.Phase == "card" && len(d.Choices) == 1 && strings.HasPrefix(d.Choices[0].ID, "face:") {
			choice = d.Choices[0].ID
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("the card screen never offered face pay: %+v", d)
		}
		time.Sleep(30 * time.Millisecond)
	}
	// A touch on another sale's screen switches nothing.
	resp, err := http.Post("http://"+e.api+"/display/choose", "application/json", strings.NewReader(`{"choice":"face:0"}`))
	if err != nil || resp.StatusCode != http.StatusConflict {
		e.t.Fatalf("choosing face pay on a stale screen: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Post("http://"+e.api+"/display/choose", "application/json", strings.NewReader(`{"choice":"`+choice+`"}`))
	if err != nil || resp.StatusCode != http.StatusOK {
		e.t.Fatalf("choosing face pay: %v %v", resp, err)
	}
	resp.Body.Close()
	if d := e.waitPhase("face_consent"); d.Phase != "face_consent" {
		e.t.Fatalf("after choosing face pay: %+v", d)
	}
	if out, code := e.posctl("sim", "face", "--subject", "dana"); code != 0 {
		e.t.Fatalf("sim face: %d %s", code, out)
	}
	e.posctl("sim", "keys", "E")
	if d := e.waitPhase("password"); d.Phase != "password" {
		e.t.Fatalf("no password asked: %+v", d)
	}
	e.posctl("sim", "keys", facePassword("dana")+"E")
	r := <-ch
	var v faceView
	if err := json.NewDecoder(strings.NewReader(r.out)).Decode(&v); err != nil || v.State != "approved" || r.code != 0 || v.Face == nil {
		e.t.Fatalf("card sale paid by face: exit %d %s", r.code, r.out)
	}
	return r.out
}

// TestFacePayNocv: the pure-Go build says face pay is unavailable and
// why, and has no pipeline for posctl face check.
func TestFacePayNocv(t *testing.T) {
	if buildTags != "nocv" {
		t.Skip("the nocv build's behaviour")
	}
	e, acq, posd, _ := faceEnv(t, nil)
	defer acq.stop(t)
	defer posd.stop(t)
	st := e.faceStatus()
	if st.Face.Enabled || !strings.Contains(st.Face.Why, "OpenCV") {
		t.Fatalf("face pay in the nocv build: %+v", st.Face)
	}
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "frame000.png"))
	if err != nil {
		t.Fatal(err)
	}
	png.Encode(f, image.NewRGBA(image.Rect(0, 0, 8, 8)))
	f.Close()
	out, code := e.posctl("face", "check", "--clip", dir)
	if code == 0 || !strings.Contains(out, "OpenCV") {
		t.Fatalf("face check in the nocv build: exit %d %s", code, out)
	}
	v, _, _ := e.faceSale("10.00", nil, "", "")
	if v.State != "failed" || v.Failure != "face_unavailable" {
		t.Fatalf("face sale in the nocv build: %+v", v)
	}
}
