// Package face is the terminal's on-device face detection and liveness
// check for face pay, built on OpenCV 4.6 through gocv.
//
// A sale's flow asks the customer for consent, draws a challenge
// (RandomChallenge: blink, turn left, turn right, come closer), shows its
// Prompt, then feeds camera frames to an Attempt until Progress.Done:
//
//	c, err := face.New(face.Opts{})          // loads the cascades once
//	a := c.Begin(ch, irCamera != nil)
//	defer a.Close()                           // frees and wipes everything
//	for !p.Done { p, err = a.Add(frame, irFrame) }   // the caller closes frames
//	r := a.Result()                           // Live, Spoof or Retry, scores, reasons
//	crop, err := a.BestCrop()                 // Live only: 160x160 JPEG; caller wipes it
//
// The pipeline, per frame: a grey copy, a 320-pixel-wide copy for
// tracking and a 224-pixel-wide one for Haar face detection (every third
// frame, or when the face is lost; in between the face box follows its
// tracked features); the eye cascade on the face's upper half only; the
// quality gate (face size, Laplacian-variance sharpness, exposure, pose)
// and best-frame selection. Liveness signals, each scored in
// Result.Scores:
//
//   - the challenge: a blink (the eye band's darkest part lightening for
//     a few frames, then darkening again); a turn (the inner face's
//     features moving sideways relative to the head); closer (the face's
//     height growing by Thresholds.CloserGrowth);
//   - parallax: features tracked (goodFeaturesToTrack, pyramidal
//     Lucas-Kanade) on the face and on a ring around it from the first
//     face frame on; once they moved enough, ONE homography is fitted
//     with RANSAC to all of them. A photo or a screen moved in front of
//     the camera is a plane: one homography explains nearly every track.
//     A head turning or coming closer in front of a background is not;
//   - screen cues: the moiré of a screen's pixel grid (isolated peaks in
//     the high frequencies of a 64x64 full-resolution patch of the face,
//     DFT) and a frame around the face (long straight edges on three
//     sides: a phone's bezel, a paper's edge);
//   - IR, when the board has an IR camera: the IR picture must show a
//     face where the colour picture does.
//
// Exactly one face may be in view: a second face refuses the attempt
// (Retry with "two faces in view"; the sale flow then refuses the face
// payment: a bystander must not pay for the payer).
//
// A nocv build (CGO_ENABLED=0 -tags nocv) has the types but no pipeline:
// New fails with ErrUnavailable and face pay is off; card payments work.
//
// Every native matrix the package makes is counted (OpenMats) and every
// buffer that held face pixels is zeroed before it is released: the
// frames' copies, the working matrices, the crop, the JPEG's native
// buffer. Nothing is written to disk and nothing derived from pixels
// reaches a log.
package face
