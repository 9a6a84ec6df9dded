package facescene

import (
	"fmt"
	"math/rand/v2"
)

// Labelled is a clip of the evaluation set: its scene, and the challenge
// the liveness check asks for (what a live subject then does).
type Labelled struct {
	ID        string
	Scene     Scene
	Challenge Action
}

// challenges are what a liveness check may ask.
var challenges = [...]Action{Blink, Left, Right, Closer}

// ClipSet is the labelled evaluation set: live clips (every subject in
// turn, doing the challenge asked, spread evenly over the challenges)
// and attack clips (half prints, half screens, every subject in turn;
// each with a challenge drawn at random; half the screens replay a
// video doing exactly that challenge, the worst case of an attacker who
// guessed it, the other half another action; prints never move but as a
// plane). The same arguments give the same set.
func ClipSet(live, attacks int, seed uint64) []Labelled {
	rnd := rand.New(rand.NewPCG(seed, 0xc11f5))
	subs := Subjects()
	out := make([]Labelled, 0, live+attacks)
	for i := 0; i < live; i++ {
		ch := challenges[i%len(challenges)]
		s := subs[i%len(subs)]
		out = append(out, Labelled{ID: fmt.Sprintf("live-%03d-%s-%s", i, s.Name, ch), Challenge: ch,
			Scene: Scene{Subject: s.Name, Attack: None, Action: ch, Seed: rnd.Uint64(), W: W, H: H}})
	}
	for i := 0; i < attacks; i++ {
		s := subs[i%len(subs)]
		ch := challenges[rnd.IntN(len(challenges))]
		sc := Scene{Subject: s.Name, Seed: rnd.Uint64(), W: W, H: H}
		if i%2 == 0 {
			sc.Attack, sc.Action = Print, Still
		} else {
			sc.Attack, sc.Action = Screen, ch
			if (i/2)%2 == 1 {
				sc.Action = challenges[(indexOf(ch)+1+rnd.IntN(len(challenges)-1))%len(challenges)]
			}
		}
		out = append(out, Labelled{ID: fmt.Sprintf("attack-%03d-%s-%s-%s", i, s.Name, sc.Attack, ch), Challenge: ch, Scene: sc})
	}
	return out
}

func indexOf(a Action) int {
	for i, c := range challenges {
		if c == a {
			return i
		}
	}
	return 0
}
