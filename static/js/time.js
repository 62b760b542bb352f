// How times read on the page: relative while recent ("just now", "5 min ago"), then the clock
// time, with day separators ("Today", "Yesterday", "Monday 3 March") between days.

const timeOnly = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const weekdayTime = new Intl.DateTimeFormat(undefined, { weekday: "short", hour: "2-digit", minute: "2-digit" });
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const full = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" });
const weekdayDay = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long" });
const weekdayDayYear = new Intl.DateTimeFormat(undefined, {
  weekday: "long",
  day: "numeric",
  month: "long",
  year: "numeric",
});

const MINUTE = 60 * 1000;
const DAY = 24 * 60 * MINUTE;

export function sameDay(a, b) {
  return a.toDateString() === b.toDateString();
}

function startOfDay(date) {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate());
}

/** "just now", "5 min ago", "14:05", "Yesterday 14:05", "Mon 14:05", "3 Mar 2025, 14:05". */
export function relativeTime(date, now = new Date()) {
  const age = now - date;
  if (age < 45 * 1000) return "just now";
  if (age < 60 * MINUTE) return `${Math.max(1, Math.round(age / MINUTE))} min ago`;
  if (sameDay(date, now)) return timeOnly.format(date);
  const days = Math.round((startOfDay(now) - startOfDay(date)) / DAY);
  if (days === 1) return `Yesterday ${timeOnly.format(date)}`;
  if (days < 6) return weekdayTime.format(date);
  return dateTime.format(date);
}

export function clockTime(date) {
  return timeOnly.format(date);
}

export function fullDate(date) {
  return full.format(date);
}

/** The label of a day separator. */
export function dayLabel(date, now = new Date()) {
  const days = Math.round((startOfDay(now) - startOfDay(date)) / DAY);
  if (days === 0) return "Today";
  if (days === 1) return "Yesterday";
  return (date.getFullYear() === now.getFullYear() ? weekdayDay : weekdayDayYear).format(date);
}
