//go:build nocv

package sim

// haveCamera: a nocv build has no OpenCV and the sim board no camera.
const haveCamera = false
