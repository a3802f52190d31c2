// A readable name for a session's browser, from its User-Agent: "Chrome 131 on Windows".
// A small hand parser instead of a library: the sessions table needs the family, the
// major version and the system of the browsers people use, nothing more, and a
// User-Agent is whatever the client says anyway. The order matters: Edge, Opera and
// Samsung Internet also say "Chrome", Chrome also says "Safari".
const BROWSERS: Array<[RegExp, string]> = [
  [/\bEdg(?:e|A|iOS)?\/(\d+)/, 'Edge'],
  [/\bOPR\/(\d+)/, 'Opera'],
  [/\bSamsungBrowser\/(\d+)/, 'Samsung Internet'],
  [/\b(?:Firefox|FxiOS)\/(\d+)/, 'Firefox'],
  [/\bChromium\/(\d+)/, 'Chromium'],
  [/\b(?:HeadlessChrome|Chrome|CriOS)\/(\d+)/, 'Chrome'],
  [/\bVersion\/(\d+(?:\.\d+)?)(?:\.\d+)*(?: Mobile\/\S+)? Safari\//, 'Safari'],
  [/^curl\/(\d+(?:\.\d+)?)/, 'curl'],
];

// iPhone and iPad before Mac OS X (they say "like Mac OS X"), Android before Linux.
const SYSTEMS: Array<[RegExp, string]> = [
  [/Windows/, 'Windows'],
  [/iPhone|iPod/, 'iOS'],
  [/iPad/, 'iPadOS'],
  [/Android/, 'Android'],
  [/CrOS/, 'ChromeOS'],
  [/Mac OS X|Macintosh/, 'macOS'],
  [/Linux|X11/, 'Linux'],
];

export function browserName(userAgent: string): string {
  const ua = userAgent.trim();
  if (!ua) return 'Unknown browser';
  let browser = '';
  for (const [pattern, name] of BROWSERS) {
    const m = pattern.exec(ua);
    if (m) {
      browser = `${name} ${m[1]}`;
      break;
    }
  }
  const system = SYSTEMS.find(([pattern]) => pattern.test(ua))?.[1] ?? '';
  // Anything else (a script, a tool): its first product token, without the version's tail.
  if (!browser) browser = /^([A-Za-z][\w.-]{0,40})(?:\/(\d+(?:\.\d+)?))?/.exec(ua)?.slice(1).filter(Boolean).join(' ') ?? 'Unknown browser';
  return system ? `${browser} on ${system}` : browser;
}
