// Python's `datetime.strftime` in the C locale, for the `strftime_now(format)` global that Hugging Face
// transformers gives chat templates (the Llama 3.2 template writes `strftime_now("%d %b %Y")`, e.g.
// "26 Jul 2024"). `@huggingface/jinja` ships one, but it names months in the process's locale ("juil."
// under fr-FR) and knows only a few directives; Python formats in the C locale unless the program
// calls setlocale, so this one uses fixed English names. Local time, like Python's `datetime.now()`.

const MONTHS = [
  "January", "February", "March", "April", "May", "June",
  "July", "August", "September", "October", "November", "December",
] as const;
const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"] as const;

function pad(n: number, width: number, noPad: boolean): string {
  return noPad ? String(n) : String(n).padStart(width, "0");
}

// Counted on UTC dates so that a daylight-saving change does not shift it by an hour.
function dayOfYear(date: Date): number {
  const year = date.getFullYear();
  return (Date.UTC(year, date.getMonth(), date.getDate()) - Date.UTC(year, 0, 1)) / 86_400_000 + 1;
}

/**
 * Formats `date` (in local time) like Python's `date.strftime(format)` in the C locale.
 * Supports `%a %A %b %B %d %H %I %j %m %M %p %S %y %Y %%` and the glibc `-` flag on numbers (`%-d`);
 * other directives are left as written.
 * @example strftime(new Date(2024, 6, 26), "%d %b %Y") // "26 Jul 2024"
 */
export function strftime(date: Date, format: string): string {
  return format.replace(/%(-?)([aAbBdHIjmMpSyY%])/g, (whole: string, flag: string, code: string) => {
    const noPad = flag === "-";
    const hours = date.getHours();
    const month = MONTHS[date.getMonth()] ?? "";
    const weekday = WEEKDAYS[date.getDay()] ?? "";
    switch (code) {
      case "a": return weekday.slice(0, 3);
      case "A": return weekday;
      case "b": return month.slice(0, 3);
      case "B": return month;
      case "d": return pad(date.getDate(), 2, noPad);
      case "H": return pad(hours, 2, noPad);
      case "I": return pad(hours % 12 === 0 ? 12 : hours % 12, 2, noPad);
      case "j": return pad(dayOfYear(date), 3, noPad);
      case "m": return pad(date.getMonth() + 1, 2, noPad);
      case "M": return pad(date.getMinutes(), 2, noPad);
      case "p": return hours < 12 ? "AM" : "PM";
      case "S": return pad(date.getSeconds(), 2, noPad);
      case "y": return pad(date.getFullYear() % 100, 2, noPad);
      case "Y": return String(date.getFullYear());
      case "%": return noPad ? whole : "%";
      default: return whole;
    }
  });
}
