package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"posd/board/sim"
	"posd/internal/daemon"
	"posd/terminal/face"
	"posd/terminal/store"
)

// maxClip bounds a clip posctl face check uploads (pictures or a video,
// base64 in JSON).
const maxClip = 96 << 20

// faceCheckView is what POST /v1/face/check answers: the decision, every
// signal's score, the reasons, the frames looked at and the time taken.
type faceCheckView struct {
	face.Result
	MS int64 `json:"ms"`
}

// faceCheck runs the detection and liveness pipeline on a clip.
func (a *api) faceCheck(w http.ResponseWriter, r *http.Request) {
	a.extendWrite(w, faceCheckRun)
	var req struct {
		Challenge string   `json:"challenge"`
		Frames    [][]byte `json:"frames"`
		IRFrames  [][]byte `json:"ir_frames"`
		Video     []byte   `json:"video"`
	}
	if err := decodeBody(http.MaxBytesReader(w, r.Body, maxClip), &req); err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	if req.Challenge == "" {
		req.Challenge = string(face.None)
	}
	start := time.Now()
	res, err := a.d.CheckClip(r.Context(), daemon.Clip{Frames: req.Frames, IRFrames: req.IRFrames, Video: req.Video}, req.Challenge)
	for _, f := range req.Frames {
		clear(f)
	}
	for _, f := range req.IRFrames {
		clear(f)
	}
	clear(req.Video)
	switch {
	case errors.Is(err, daemon.ErrFaceUnavailable):
		fail(w, http.StatusNotImplemented, err)
	case errors.Is(err, daemon.ErrClip):
		fail(w, http.StatusBadRequest, err)
	case err != nil:
		fail(w, http.StatusInternalServerError, err)
	default:
		writeJSON(w, http.StatusOK, faceCheckView{Result: res, MS: time.Since(start).Milliseconds()})
	}
}

// simFace puts a face scene in front of the simulated camera.
func (a *api) simFace(w http.ResponseWriter, r *http.Request) {
	var sc sim.FaceScene
	if !decode(w, r, &sc) {
		return
	}
	if sc.Subject == "" {
		fail(w, http.StatusBadRequest, errors.New("subject is required"))
		return
	}
	err := a.d.ShowFace(sc)
	switch {
	case errors.Is(err, daemon.ErrNotSim):
		fail(w, http.StatusNotFound, errors.New("no simulated camera: the board is not simulated"))
	case errors.Is(err, sim.ErrNoCamera):
		fail(w, http.StatusNotFound, err)
	case errors.Is(err, sim.ErrScene):
		fail(w, http.StatusBadRequest, err)
	case err != nil:
		fail(w, http.StatusInternalServerError, err)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"shown": sc})
	}
}

// choose is the customer's touch on the display: "face:ID" switches
// card sale ID, waiting for a card, to face pay. A touch on the screen
// of another sale (the one before, still shown as the next started) is
// refused.
func (a *api) choose(choice string) error {
	id, ok := strings.CutPrefix(choice, "face:")
	if !ok || id == "" {
		return fmt.Errorf("unknown choice %q", shorten(choice))
	}
	active := a.d.Engine.Active()
	switch {
	case active == "":
		return errors.New("no sale in progress")
	case active != id:
		return fmt.Errorf("the choice was made on the screen of transaction %s, not of the sale in progress", shorten(id))
	}
	err := a.d.Engine.ChooseFace(id)
	if errors.Is(err, store.ErrState) {
		return errors.New("the sale is no longer waiting for a card: face pay cannot be chosen now")
	}
	return err
}
