/** One group of bars (one key type and mode, say), one bar per series (server). */
export interface BarGroup {
  readonly label: string;
  readonly bars: readonly { readonly series: string; readonly value: number }[];
}

export interface BarChartInput {
  readonly title: string;
  /** What the bar length measures, printed under the title. */
  readonly unit: string;
  readonly groups: readonly BarGroup[];
  readonly width?: number;
}

const PALETTE = ['#3b6ea5', '#7a9e3b', '#c9742c', '#8c5a9e', '#b5443c', '#4a9a94'];
const LABEL_WIDTH = 150;
const VALUE_WIDTH = 70;
const BAR_HEIGHT = 16;
const BAR_GAP = 3;
const GROUP_GAP = 14;
const HEADER = 64;

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const fmt = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 0 });

/**
 * A horizontal grouped bar chart as a standalone SVG document: bars of the same series share a colour across
 * groups, a legend names the series, and each bar carries its value. Pure: the same input gives the same bytes.
 * A non-finite value draws no bar and prints "–".
 */
export function barChartSvg(input: BarChartInput): string {
  const width = input.width ?? 720;
  const plot = width - LABEL_WIDTH - VALUE_WIDTH;
  const series = [...new Set(input.groups.flatMap((g) => g.bars.map((b) => b.series)))];
  const colour = (s: string) => PALETTE[series.indexOf(s) % PALETTE.length] as string;
  const max = Math.max(0, ...input.groups.flatMap((g) => g.bars.map((b) => b.value)).filter(Number.isFinite));
  const scale = max > 0 ? plot / max : 0;
  const out: string[] = [];
  let y = HEADER;
  for (const group of input.groups) {
    out.push(`<text x="8" y="${y + 12}" font-weight="bold">${escapeXml(group.label)}</text>`);
    y += 18;
    for (const bar of group.bars) {
      const finite = Number.isFinite(bar.value);
      const length = finite ? Math.max(1, Math.round(bar.value * scale)) : 0;
      out.push(`<text x="${LABEL_WIDTH - 6}" y="${y + 12}" text-anchor="end">${escapeXml(bar.series)}</text>`);
      if (finite)
        out.push(
          `<rect x="${LABEL_WIDTH}" y="${y}" width="${length}" height="${BAR_HEIGHT}" fill="${colour(bar.series)}"><title>${escapeXml(`${group.label}, ${bar.series}: ${fmt(bar.value)}`)}</title></rect>`,
        );
      out.push(`<text x="${LABEL_WIDTH + length + 4}" y="${y + 12}">${finite ? fmt(bar.value) : '–'}</text>`);
      y += BAR_HEIGHT + BAR_GAP;
    }
    y += GROUP_GAP;
  }
  const legend = series.map(
    (s, i) =>
      `<rect x="${8 + i * 130}" y="40" width="10" height="10" fill="${colour(s)}"/><text x="${22 + i * 130}" y="49">${escapeXml(s)}</text>`,
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="8" y="18" font-size="15" font-weight="bold">${escapeXml(input.title)}</text>`,
    `<text x="8" y="33" fill="#555555">${escapeXml(input.unit)}</text>`,
    ...legend,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}
