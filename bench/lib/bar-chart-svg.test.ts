import t from 'tap';
import { barChartSvg, escapeXml } from './bar-chart-svg.ts';

const input = {
  title: 'Handshakes per server CPU-second',
  unit: 'higher is better',
  width: 720,
  groups: [
    {
      label: 'ECDSA P-256, full',
      bars: [
        { series: 'sigil', value: 600 },
        { series: 'nginx', value: 300 },
      ],
    },
    {
      label: 'RSA-2048, full',
      bars: [
        { series: 'sigil', value: 150 },
        { series: 'nginx', value: Number.NaN },
      ],
    },
  ],
};

const rects = (svg: string) =>
  [...svg.matchAll(/<rect x="150" y="\d+" width="(\d+)" height="16" fill="(#[0-9a-f]{6})"/g)].map((m) => ({
    width: Number(m[1]),
    fill: m[2],
  }));

t.test('bar lengths are proportional to the values, the longest filling the plot', async (t) => {
  const bars = rects(barChartSvg(input));
  t.same(
    bars.map((b) => b.width),
    [500, 250, 125],
    '720 wide minus labels and values leaves 500 for 600',
  );
});

t.test('a series keeps its colour across groups and appears once in the legend', async (t) => {
  const svg = barChartSvg(input);
  const bars = rects(svg);
  t.equal(bars[0]?.fill, bars[2]?.fill, 'sigil in both groups');
  t.not(bars[0]?.fill, bars[1]?.fill, 'sigil and nginx differ');
  t.equal(svg.match(/<text x="\d+" y="49">nginx<\/text>/g)?.length, 1);
});

t.test('a missing value draws no bar and prints a dash', async (t) => {
  const svg = barChartSvg(input);
  t.equal(rects(svg).length, 3);
  t.match(svg, />–<\/text>/);
});

t.test('text is escaped, and the document is a standalone SVG', async (t) => {
  t.equal(escapeXml(`<a & "b">'`), '&#60;a &#38; &#34;b&#34;&#62;&#39;');
  const svg = barChartSvg({ ...input, title: 'A < B & C' });
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  t.match(svg, /A &#60; B &#38; C/);
  t.notMatch(svg, /A < B/);
  t.match(svg, /<\/svg>\n$/);
});

t.test('all values zero or missing: no bar grows, nothing divides by zero', async (t) => {
  const svg = barChartSvg({ ...input, groups: [{ label: 'g', bars: [{ series: 's', value: 0 }] }] });
  t.same(
    rects(svg).map((b) => b.width),
    [1],
  );
  t.notMatch(svg, /NaN|Infinity/);
});
