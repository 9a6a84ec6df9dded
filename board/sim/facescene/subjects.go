package facescene

// Subject is a test identity: how their head looks.
type Subject struct {
	Name string
	// Enrolled: the face-pay platform's gallery has them (the simulator's
	// test accounts); the others are strangers it must not match.
	Enrolled bool

	skin    [3]float64 // linear-ish RGB 0..1
	hair    [3]float64
	iris    [3]float64
	lips    [3]float64
	aspect  float64 // head width / height
	eyeX    float64 // half the distance between the eyes (head units)
	eyeY    float64 // eye height (negative: above the centre)
	eyeW    float64 // eye half-width
	browW   float64 // brow thickness
	noseW   float64 // nose half-width
	mouthW  float64 // mouth half-width
	mouthY  float64
	hairTop float64 // where the hair line starts (head units, negative)
	long    bool    // long hair down the sides
	shirt   [3]float64
}

var subjects = []Subject{
	{Name: "alice", Enrolled: true, skin: [3]float64{0.93, 0.76, 0.64}, hair: [3]float64{0.55, 0.33, 0.13}, iris: [3]float64{0.25, 0.45, 0.65},
		lips: [3]float64{0.75, 0.36, 0.38}, aspect: 0.74, eyeX: 0.36, eyeY: -0.12, eyeW: 0.15, browW: 0.035, noseW: 0.09, mouthW: 0.24, mouthY: 0.50,
		hairTop: -0.55, long: true, shirt: [3]float64{0.70, 0.15, 0.20}},
	{Name: "bob", Enrolled: true, skin: [3]float64{0.80, 0.60, 0.47}, hair: [3]float64{0.12, 0.10, 0.09}, iris: [3]float64{0.30, 0.20, 0.12},
		lips: [3]float64{0.62, 0.38, 0.35}, aspect: 0.80, eyeX: 0.33, eyeY: -0.10, eyeW: 0.13, browW: 0.055, noseW: 0.12, mouthW: 0.28, mouthY: 0.52,
		hairTop: -0.70, shirt: [3]float64{0.15, 0.25, 0.55}},
	{Name: "chen", Enrolled: true, skin: [3]float64{0.92, 0.80, 0.66}, hair: [3]float64{0.05, 0.05, 0.06}, iris: [3]float64{0.18, 0.12, 0.08},
		lips: [3]float64{0.80, 0.45, 0.45}, aspect: 0.72, eyeX: 0.34, eyeY: -0.14, eyeW: 0.14, browW: 0.04, noseW: 0.08, mouthW: 0.21, mouthY: 0.48,
		hairTop: -0.45, shirt: [3]float64{0.85, 0.85, 0.82}},
	{Name: "dana", Enrolled: true, skin: [3]float64{0.68, 0.48, 0.35}, hair: [3]float64{0.08, 0.06, 0.05}, iris: [3]float64{0.20, 0.13, 0.08},
		lips: [3]float64{0.45, 0.25, 0.24}, aspect: 0.76, eyeX: 0.37, eyeY: -0.11, eyeW: 0.15, browW: 0.04, noseW: 0.13, mouthW: 0.27, mouthY: 0.50,
		hairTop: -0.60, long: true, shirt: [3]float64{0.90, 0.75, 0.20}},
	{Name: "emil", Enrolled: true, skin: [3]float64{0.96, 0.82, 0.74}, hair: [3]float64{0.90, 0.80, 0.55}, iris: [3]float64{0.35, 0.55, 0.45},
		lips: [3]float64{0.78, 0.48, 0.48}, aspect: 0.70, eyeX: 0.32, eyeY: -0.13, eyeW: 0.13, browW: 0.03, noseW: 0.10, mouthW: 0.22, mouthY: 0.53,
		hairTop: -0.62, shirt: [3]float64{0.20, 0.50, 0.25}},
	{Name: "fatima", Enrolled: true, skin: [3]float64{0.72, 0.52, 0.38}, hair: [3]float64{0.30, 0.12, 0.10}, iris: [3]float64{0.25, 0.16, 0.09},
		lips: [3]float64{0.62, 0.30, 0.30}, aspect: 0.78, eyeX: 0.35, eyeY: -0.12, eyeW: 0.16, browW: 0.045, noseW: 0.10, mouthW: 0.25, mouthY: 0.49,
		hairTop: -0.50, long: true, shirt: [3]float64{0.45, 0.20, 0.55}},
	{Name: "mallory", skin: [3]float64{0.78, 0.52, 0.50}, hair: [3]float64{0.62, 0.62, 0.64}, iris: [3]float64{0.30, 0.30, 0.35},
		lips: [3]float64{0.70, 0.40, 0.40}, aspect: 0.82, eyeX: 0.31, eyeY: -0.09, eyeW: 0.12, browW: 0.05, noseW: 0.12, mouthW: 0.30, mouthY: 0.54,
		hairTop: -0.75, shirt: [3]float64{0.25, 0.25, 0.25}},
	{Name: "oscar", skin: [3]float64{0.82, 0.70, 0.46}, hair: [3]float64{0.48, 0.30, 0.16}, iris: [3]float64{0.22, 0.15, 0.10},
		lips: [3]float64{0.55, 0.32, 0.30}, aspect: 0.75, eyeX: 0.38, eyeY: -0.15, eyeW: 0.14, browW: 0.06, noseW: 0.11, mouthW: 0.23, mouthY: 0.47,
		hairTop: -0.50, shirt: [3]float64{0.60, 0.45, 0.30}},
}

// Subjects returns the test identities: enrolled ones first, then the
// strangers (mallory, oscar).
func Subjects() []Subject { return append([]Subject(nil), subjects...) }

// Lookup returns the subject named name.
func Lookup(name string) (Subject, bool) {
	for _, s := range subjects {
		if s.Name == name {
			return s, true
		}
	}
	return Subject{}, false
}
