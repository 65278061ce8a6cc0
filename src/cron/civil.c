/* Proleptic Gregorian calendar arithmetic on 64-bit day and second counts, for cron.c and tz.c.
 * It knows nothing about time zones: "seconds" here are either UTC or wall-clock seconds, as
 * the caller decides. Not for parsing or formatting dates. */
#include "cron/cron.h"

/* Rounds the quotient toward minus infinity (C division truncates toward zero). */
int64_t
civil_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) {
        q--;
    }
    return q;
}

/* True for Gregorian leap years. */
bool
civil_is_leap(int64_t year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

/* Days in the month of the year. */
int
civil_days_in_month(int64_t year, int month)
{
    static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (month == 2 && civil_is_leap(year)) {
        return 29;
    }
    return days[month - 1];
}

/* Days since 1970-01-01. The year is shifted to start in March, so the leap day is the last
 * day of the shifted year and the month lengths before it follow a fixed 153-days-per-5-months
 * pattern; 400-year eras then make every era identical. */
int64_t
civil_days_from_date(int64_t year, int month, int day)
{
    int64_t y = month <= 2 ? year - 1 : year;
    int64_t era = civil_floor_div(y, 400);
    int64_t year_of_era = y - era * 400;                       /* 0..399 */
    int64_t shifted_month = month > 2 ? month - 3 : month + 9; /* March = 0 */
    int64_t day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468; /* 719468 = days from 0000-03-01 to 1970-01-01 */
}

/* The weekday of a day count: 1970-01-01 was a Thursday. */
int
civil_weekday(int64_t days)
{
    return (int)(days - civil_floor_div(days + 4, 7) * 7 + 4);
}

/* Splits seconds into a date and time (the inverse of civil_days_from_date). */
void
civil_from_seconds(int64_t sec, struct civil *out)
{
    int64_t days = civil_floor_div(sec, CIVIL_DAY);
    int64_t rest = sec - days * CIVIL_DAY;
    out->hour = (int)(rest / 3600);
    out->minute = (int)(rest / 60 % 60);
    out->second = (int)(rest % 60);

    int64_t z = days + 719468;
    int64_t era = civil_floor_div(z, 146097);
    int64_t day_of_era = z - era * 146097; /* 0..146096 */
    int64_t year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    int64_t shifted_month = (5 * day_of_year + 2) / 153; /* March = 0 */
    out->day = (int)(day_of_year - (153 * shifted_month + 2) / 5 + 1);
    out->month = (int)(shifted_month < 10 ? shifted_month + 3 : shifted_month - 9);
    out->year = year_of_era + era * 400 + (out->month <= 2);
}

/* Joins a date and time into seconds. */
int64_t
civil_to_seconds(const struct civil *c)
{
    return civil_days_from_date(c->year, c->month, c->day) * CIVIL_DAY + c->hour * 3600 +
           c->minute * 60 + c->second;
}
