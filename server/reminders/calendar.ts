// The calendar file attached to an expiry reminder.
import { lazy } from '../lib/lazy.ts';
import { hintOf } from '../mail/emails.ts';

const loadIcal = lazy(() => import('ical-generator'));

// An all-day calendar event on the expiry date (ical-generator, loaded on first use), so
// the rotation lands in the managers' calendars: its title says what to do.
export async function expiryEvent(app: { name: string; clientId: string }, secret: { id: string; name: string; hint: string; expiresOn: string; label: string }, link: string, daysLeft: number) {
  return allDayEvent({
    id: `secret-${secret.id}`,
    product: 'expiry reminders',
    date: secret.expiresOn,
    summary: `Rotate ${secret.label.toLowerCase()} “${secret.name}” of ${app.name}: last valid day`,
    description: `${secret.label} “${secret.name}” (${hintOf(secret.hint)}) of ${app.name} expires at the end of this day. Rotate it: ${secret.label === 'Client secret' ? 'Create new secret' : 'add a new one'} on Manage API credentials, put it in your systems, confirm they connect, delete the old one.`,
    alarm: (days) => `${secret.label} “${secret.name}” of ${app.name} expires ${days === 0 ? 'today' : `in ${days} day${days === 1 ? '' : 's'}`}: rotate it.`,
    filename: 'secret-expiry.ics',
    link,
    daysLeft,
  });
}

// One all-day event on `date` (noon UTC: the same calendar day in every zone it is read
// in), the link in its description and url, and an alarm a week before (a day before, or
// on the day, when the reminder comes later). Expiry reminders and federated credentials'
// review reminders both attach one.
export async function allDayEvent(e: { id: string; product: string; date: string; summary: string; description: string; alarm: (days: number) => string; filename: string; link: string; daysLeft: number }) {
  const { default: ical, ICalAlarmType } = await loadIcal();
  const calendar = ical({ name: 'Credentials Portal', prodId: { company: 'Credentials Portal', product: e.product } });
  const event = calendar.createEvent({ id: `${e.id}@credentials-portal`, start: new Date(`${e.date}T12:00:00Z`), allDay: true, summary: e.summary, description: `${e.description}\n${e.link}`, url: e.link });
  const alarmDays = e.daysLeft >= 7 ? 7 : e.daysLeft >= 1 ? 1 : 0;
  event.createAlarm({ type: ICalAlarmType.display, triggerBefore: alarmDays * 86_400, description: e.alarm(alarmDays) });
  return { filename: e.filename, content: calendar.toString(), contentType: 'text/calendar; charset=utf-8; method=PUBLISH' };
}
