package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// maxClipBytes bounds a clip posctl face check reads (posd takes up to
// 96 MiB of JSON).
const maxClipBytes = 64 << 20

// faceCheck is posctl face check --clip PATH [--challenge C]: posd's
// detection and liveness pipeline runs on a clip (posctl links no
// OpenCV) and the answer is one JSON object: decision, scores, reasons,
// frames, ms. PATH is a video file or a directory of pictures (PNG or
// JPEG, in name order); in a directory, pictures named ir* are the IR
// camera's frames of the same moments.
func (c *cli) faceCheck(args []string) (int, error) {
	fs := flag.NewFlagSet("face check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	clip := fs.String("clip", "", "")
	challenge := fs.String("challenge", "none", "")
	if err := fs.Parse(args); err != nil || *clip == "" || fs.NArg() > 0 {
		return 1, usageErr("face check")
	}
	switch *challenge {
	case "blink", "left", "right", "closer", "none":
	default:
		return 1, usageErr("face check")
	}
	req := map[string]any{"challenge": *challenge}
	st, err := os.Stat(*clip)
	if err != nil {
		return 1, err
	}
	if st.IsDir() {
		frames, ir, err := readClipDir(*clip)
		if err != nil {
			return 1, err
		}
		req["frames"] = frames
		if len(ir) > 0 {
			req["ir_frames"] = ir
		}
	} else {
		if st.Size() > maxClipBytes {
			return 1, fmt.Errorf("%s is larger than %d bytes", *clip, maxClipBytes)
		}
		b, err := os.ReadFile(*clip)
		if err != nil {
			return 1, err
		}
		req["video"] = b
	}
	return c.show("POST", "/v1/face/check", req)
}

// readClipDir reads a directory's pictures in name order: the colour
// frames, and the IR frames (names starting "ir").
func readClipDir(dir string) (frames, ir [][]byte, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	var names []string
	for _, e := range ents {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.Type().IsRegular() && (ext == ".png" || ext == ".jpg" || ext == ".jpeg") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	total := 0
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return nil, nil, err
		}
		if total += len(b); total > maxClipBytes {
			return nil, nil, fmt.Errorf("the pictures in %s add up to more than %d bytes", dir, maxClipBytes)
		}
		if strings.HasPrefix(strings.ToLower(n), "ir") {
			ir = append(ir, b)
		} else {
			frames = append(frames, b)
		}
	}
	if len(frames) == 0 {
		return nil, nil, errors.New("no PNG or JPEG pictures in " + dir)
	}
	return frames, ir, nil
}

// simFace is posctl sim face --subject NAME [--attack none|print|screen]
// [--action A] [--second NAME]: who stands in front of the simulated
// camera for face pay.
func (c *cli) simFace(args []string) (int, error) {
	fs := flag.NewFlagSet("sim face", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	subject := fs.String("subject", "", "")
	attack := fs.String("attack", "none", "")
	action := fs.String("action", "", "")
	second := fs.String("second", "", "")
	seed := fs.Uint64("seed", 0, "")
	if err := fs.Parse(args); err != nil || *subject == "" || fs.NArg() > 0 {
		return 1, usageErr("sim face")
	}
	req := map[string]any{"subject": *subject, "attack": *attack}
	if *action != "" {
		req["action"] = *action
	}
	if *second != "" {
		req["second"] = *second
	}
	if *seed != 0 {
		req["seed"] = *seed
	}
	return c.show("POST", "/v1/sim/face", req)
}
