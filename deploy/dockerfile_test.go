package deploy

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// stage is one FROM ... of a multi-stage Dockerfile and its instructions.
type stage struct {
	from         string
	instructions []instruction
}

func (s stage) all(cmd string) []string {
	var out []string
	for _, in := range s.instructions {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

func loadDockerfile(t *testing.T) (args map[string]string, stages []stage) {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	args = map[string]string{}
	var pending string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && pending == "") {
			continue
		}
		if cont, ok := strings.CutSuffix(line, "\\"); ok {
			pending += cont + " "
			continue
		}
		line, pending = pending+line, ""
		cmd, rest, _ := strings.Cut(line, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.Join(strings.Fields(rest), " ")}
		switch {
		case in.cmd == "FROM":
			stages = append(stages, stage{from: in.args})
		case len(stages) == 0 && in.cmd == "ARG":
			name, value, _ := strings.Cut(in.args, "=")
			args[name] = value
		case len(stages) > 0:
			stages[len(stages)-1].instructions = append(stages[len(stages)-1].instructions, in)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a builder and a runtime stage", len(stages))
	}
	return args, stages
}

// goDirective is go.mod's go version, e.g. "1.26.0".
func goDirective(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+(\.\d+)?)$`).FindStringSubmatch(string(data))
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	return m[1]
}

func TestDockerfileBuilder(t *testing.T) {
	args, stages := loadDockerfile(t)
	builder := stages[0]
	if builder.from != "golang:${GO_VERSION} AS build" {
		t.Errorf("builder FROM %q, want golang:${GO_VERSION} AS build", builder.from)
	}
	// The builder's Go must be the one go.mod asks for (major.minor: the image tag follows patch releases).
	want := goDirective(t)
	if parts := strings.Split(want, "."); len(parts) > 2 {
		want = parts[0] + "." + parts[1]
	}
	if got := args["GO_VERSION"]; got != want {
		t.Errorf("ARG GO_VERSION=%s, want %s (go.mod)", got, want)
	}
	runs := strings.Join(builder.all("RUN"), "\n")
	for _, want := range []string{"go mod download", "CGO_ENABLED=0 go build -trimpath -ldflags=-s -o /out/csc ./cmd/csc"} {
		if !strings.Contains(runs, want) {
			t.Errorf("the builder does not run %q", want)
		}
	}
}

func TestDockerfileRuntime(t *testing.T) {
	_, stages := loadDockerfile(t)
	runtime := stages[len(stages)-1]
	if !strings.HasPrefix(runtime.from, "gcr.io/distroless/static") && runtime.from != "scratch" {
		t.Errorf("runtime FROM %q, want distroless static or scratch", runtime.from)
	}
	users := runtime.all("USER")
	if len(users) != 1 {
		t.Fatalf("runtime USER %v, want one", users)
	}
	user := users[0]
	if uid, _, _ := strings.Cut(user, ":"); uid == "0" || uid == "root" || uid == "" {
		t.Errorf("runtime USER %q runs as root", user)
	}

	c := loadCompose(t)
	csc := c.Services["csc"]
	env := strings.Join(runtime.all("ENV"), " ")
	for _, name := range []string{"CSC_ADDR", "CSC_DATA"} {
		if want := name + "=" + csc.Environment[name]; !strings.Contains(env, want) {
			t.Errorf("runtime ENV %q lacks %s (as docker-compose.yml sets it)", env, want)
		}
	}
	// A named volume starts as a copy of the image's folder, owner included: /data must belong to USER, or csc
	// cannot write its store and tokens.json there.
	dataDir := csc.Environment["CSC_DATA"]
	owned := false
	for _, cp := range runtime.all("COPY") {
		if strings.Contains(cp, "--chown="+user) && strings.HasSuffix(cp, " "+dataDir) {
			owned = true
		}
	}
	if !owned {
		t.Errorf("no COPY --chown=%s ... %s: the data folder would belong to root", user, dataDir)
	}
	_, port, _ := strings.Cut(csc.Environment["CSC_ADDR"], ":")
	if got := strings.Join(runtime.all("EXPOSE"), " "); got != port {
		t.Errorf("EXPOSE %q, want %s", got, port)
	}
	if got := runtime.all("ENTRYPOINT"); len(got) != 1 || got[0] != `["/csc"]` {
		t.Errorf("ENTRYPOINT %v, want [\"/csc\"]", got)
	}
	if got := runtime.all("CMD"); len(got) != 1 || got[0] != `["serve"]` {
		t.Errorf("CMD %v, want [\"serve\"]", got)
	}
}
