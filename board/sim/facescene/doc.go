// Package facescene draws the simulated face-pay camera's scenes: video
// of live subjects and of presentation attacks, generated, labelled and
// deterministic, to drive the simulated board's camera and to measure
// the liveness check (ISO/IEC 30107-3 APCER and BPCER) on a clip set
// that is made by a command of the project (cmd/faceclips), not picked
// by hand.
//
// What a scene models:
//
//   - A live subject: a shaded 3D head (an ellipsoid with Lambert shading
//     from a light drawn per seed) whose features sit on its surface, so
//     that turning it moves the nose and eyes across the head's outline
//     (the nose, standing off the face, farther than the eyes) while the
//     room behind stays put: the parallax a flat picture has not. Eye
//     sockets are shaded by the brow, the more the higher the light. Eyes
//     have sclera, iris, pupil and lids that close for a blink; the head
//     sways a little; exposure and sensor noise vary.
//   - Actions: blink (two blinks in the middle of the take, the lids shut
//     for 100 ms of about 230), left and right
//     (the subject turns to their own left or right, about 30 degrees,
//     and back; on the non-mirrored camera the customer's left is the
//     image's right, so "left" moves the nose towards the image's right
//     edge), closer (the face grows by about 40 %), none (sway only).
//   - A printed photo: a frontal portrait on paper with a white border,
//     held in front of the room by two thumbs over its lower corners,
//     moved and tilted as a flat plane (a homography, with the
//     perspective of a tilt that mimics a turn); it never blinks; lower
//     contrast and gamut, paper grain.
//   - A phone screen replaying a video of the subject (who may do the
//     challenge: an attacker who recorded the victim): a dark bezel, a
//     bright display with the pixel grid's moiré and a slight glare, the
//     device held by two thumbs and moved as a flat plane.
//   - A second person in view: a second, smaller head at the side.
//   - The near-infrared view of the same moment (IRFrameGray): skin is
//     bright, eyes and hair dark; a screen is black (LCDs emit no near
//     infrared); a print is paper with a face too faint to detect.
//
// What it does not model: real faces, skin texture and specular
// highlights, motion blur, rolling shutter, compression, masks, partial
// occlusion, real screens' and printers' variety. The scenes are good
// enough to exercise a pipeline and to catch regressions; they are not a
// substitute for a presentation-attack evaluation with real subjects and
// real attack instruments.
package facescene
