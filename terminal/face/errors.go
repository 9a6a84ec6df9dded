package face

import "errors"

// Errors of the package. Callers decide on them with errors.Is; every error
// that carries more detail wraps one of these. No error text carries
// pixels or anything derived from a face.
//
//   - ErrUnavailable: this build or this terminal cannot run the pipeline.
//     New of a -tags nocv build returns it as "face pay unavailable: this
//     build has no OpenCV"; a build with OpenCV whose cascade files are
//     missing or unreadable returns it too, naming the file. Fatal for
//     face pay: card payments go on.
//   - ErrChallenge: a challenge name is not one of the known ones.
//   - ErrRand: the randomness source failed while drawing a challenge.
//   - ErrFrame: a frame could not be read (closed, wrong size, a size that
//     changed within an attempt). Add returns it for that frame only; the
//     attempt goes on with the next.
//   - ErrClosed: the Checker or the Attempt was closed.
//   - ErrNotLive: BestCrop was asked of an attempt whose decision is not
//     Live (no crop leaves the pipeline for a spoof or a retry).
//   - ErrEncode: OpenCV failed to encode the crop.
//   - ErrThresholds: face.thresholds names an unknown key or a value out
//     of its range (ParseThresholds); the message names the key. Fatal at
//     start: a typo must not silently weaken the liveness check.
var (
	ErrUnavailable = errors.New("face pay unavailable")
	ErrChallenge   = errors.New("face: unknown challenge")
	ErrRand        = errors.New("face: randomness source failed")
	ErrFrame       = errors.New("face: bad frame")
	ErrClosed      = errors.New("face: closed")
	ErrNotLive     = errors.New("face: no crop: the decision is not live")
	ErrEncode      = errors.New("face: crop encoding failed")
	ErrThresholds  = errors.New("face: bad thresholds")
)
