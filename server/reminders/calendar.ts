// The calendar file attached to an expiry reminder.
import { lazy } from '../lib/lazy.ts';
import { hintOf } from '../mail/emails.ts';

const loadIcal = lazy(() => import('ical-generator'));

// An all-day calendar event on the expiry date (ical-generator, loaded on first use), so
// the rotation lands in the managers' calendars: its title says what to do, and an alarm
// goes off a week before (a day before, or on the day, when the reminder comes later).
export async function expiryEvent(app: { name: string; clientId: string }, secret: { id: string; name: string; hint: string; expiresOn: string; label: string }, link: string, daysLeft: number) {
  const { default: ical, ICalAlarmType } = await loadIcal();
  const calendar = ical({ name: 'Credentials Portal', prodId: { company: 'Credentials Portal', product: 'expiry reminders' } });
  const event = calendar.createEvent({
    id: `secret-${secret.id}@credentials-portal`,
    // Noon UTC of the date: the same calendar day in every zone the event is read in.
    start: new Date(`${secret.expiresOn}T12:00:00Z`),
    allDay: true,
    summary: `Rotate ${secret.label.toLowerCase()} “${secret.name}” of ${app.name}: last valid day`,
    description: `${secret.label} “${secret.name}” (${hintOf(secret.hint)}) of ${app.name} expires at the end of this day. Rotate it: ${secret.label === 'Client secret' ? 'Create new secret' : 'add a new one'} on Manage API credentials, put it in your systems, confirm they connect, delete the old one.\n${link}`,
    url: link,
  });
  const alarmDays = daysLeft >= 7 ? 7 : daysLeft >= 1 ? 1 : 0;
  event.createAlarm({ type: ICalAlarmType.display, triggerBefore: alarmDays * 86_400, description: `${secret.label} “${secret.name}” of ${app.name} expires ${alarmDays === 0 ? 'today' : `in ${alarmDays} day${alarmDays === 1 ? '' : 's'}`}: rotate it.` });
  return { filename: 'secret-expiry.ics', content: calendar.toString(), contentType: 'text/calendar; charset=utf-8; method=PUBLISH' };
}
