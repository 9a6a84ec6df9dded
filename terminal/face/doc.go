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
// tracking and a 224-pixel-wide one for Haar face detection (the alt2
// frontal cascade over the whole picture every sixth frame or when the
// face is lost, and every second frame around the tracked face only; in
// between the face box follows its tracked features); the eye cascade on
// the face's upper half only; the quality gate (face size,
// Laplacian-variance sharpness, exposure, pose)
// and best-frame selection. Liveness signals, each scored in
// Result.Scores:
//
//   - the challenge: a blink (in each eye's window, where the eye cascade
//     found it, the share of sclera, iris and pupil dropping for a few
//     frames as the lid covers them, then coming back); a turn (the inner face's
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
// (Retry with "two faces in view"; the sale flow may run another check,
// up to face.attempts, and no check that saw two faces ever pays: a
// bystander must not pay for the payer).
//
// # Decisions
//
// Live needs: the challenge seen done; the best frame through the quality
// gate; for the challenges that move the head (left, right, closer) a
// parallax measurement that is not flat; enough moiré and border looks
// (and IR looks with an IR camera) without a cue. Spoof: any attack cue
// once MinFrames frames were seen (flat motion counts for the challenges
// that move the head only: a customer asked to blink may sway, hair and
// shoulders moving along). Retry: a second face, or MaxFrames reached (or
// the clip ended) without the evidence for Live; the reasons say what was
// missing ("no blink", "face too small", ...). A live decision comes as
// soon as the evidence is there: about half a second to a second of
// video for a cooperative customer.
//
// # What this cannot stop
//
// An RGB-only terminal sees pictures, not depth or skin. It does not stop:
//
//   - a good 3D mask (silicone, resin) worn by a person: it is a head in
//     front of a background (parallax), it can turn and come closer, a
//     mask with eye holes blinks with its wearer's eyes;
//   - a high-quality replay on a bezel-less display held close enough
//     that the screen fills the ring around the face, whose pixel grid is
//     too fine or too blurred for moiré at that distance, answering the
//     challenge (a video of the customer doing all four, cut live): the
//     blink challenge rests on moiré and the border alone;
//   - a deepfake or a recording injected into the camera's feed (a
//     compromised board, a USB camera emulator): every frame is what the
//     attacker wants. Only a camera that signs its frames, or the secure
//     element attesting the pipeline, could;
//   - a printed photo with cut-out eyes over a live person's eyes, for
//     blink, when it is held still (no motion, no parallax to measure).
//
// The IR path adds what a near-infrared camera sees: a screen shows
// nothing in near infrared (its light is visible only), and a print or
// a mask's material reflects it unlike skin; the IR picture must show a
// face where the colour one does. It stops screens whatever their size
// and quality, and most prints; it does not stop a good mask (a 3D
// structured-light or time-of-flight camera would) nor an injected feed.
// That is why face pay is never the only factor (the payment password on
// the PIN pad) and has its own amount limit.
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
