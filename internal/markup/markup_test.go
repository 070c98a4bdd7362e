package markup

import "testing"

func TestEscape(t *testing.T) {
	for _, tc := range []struct {
		in, adaptive, connector string
	}{
		{"plain words 1.5", "plain words 1.5", "plain words 1.5"},
		{"[x](http://evil)", `\[x\](http://evil)`, "&#91;x&#93;(http://evil)"},
		{"<at>Bob</at>", `\<at\>Bob\</at\>`, "&#60;at&#62;Bob&#60;/at&#62;"},
		{"*b* _i_ ~s~ `c`", "\\*b\\* \\_i\\_ \\~s\\~ \\`c\\`", "&#42;b&#42; &#95;i&#95; &#126;s&#126; &#96;c&#96;"},
		{"# head", `\# head`, "&#35; head"},
		{"- item", `\- item`, "&#45; item"},
		{"12. item", `12\. item`, "12&#46; item"},
		{"a - b # c", "a - b # c", "a - b # c"},
		{"&lt;at&gt;", `\&lt;at\&gt;`, "&#38;lt;at&#38;gt;"},
		{`\*`, `\\\*`, "&#92;&#42;"},
		{"{{DATE(2017-02-14T06:00:00Z)}}", `\{\{DATE(2017-02-14T06:00:00Z)\}\}`, "&#123;&#123;DATE(2017-02-14T06:00:00Z)&#125;&#125;"},
		{"two\nlines\r\n\ttab", "two lines tab", "two lines tab"},
		{"bidi\u202Eevil\x00", "bidievil", "bidievil"},
	} {
		if got := Adaptive().Line(tc.in); got != tc.adaptive {
			t.Errorf("adaptive line(%q) = %q, want %q", tc.in, got, tc.adaptive)
		}
		if got := MessageCard().Line(tc.in); got != tc.connector {
			t.Errorf("connector line(%q) = %q, want %q", tc.in, got, tc.connector)
		}
	}
}

func TestEscapeBlocks(t *testing.T) {
	e := Adaptive()
	if got, want := e.Text("  # a\n> b", "\n\n"), "\\# a\n\n\\> b"; got != want {
		t.Errorf("text = %q, want %q", got, want)
	}
	if got, want := e.Code("{\n  \"a\": [1]\n}", "\n\n", "\u00a0"), "\\{\n\n\u00a0\u00a0\"a\": \\[1\\]\n\n\\}"; got != want {
		t.Errorf("code = %q, want %q", got, want)
	}
}
