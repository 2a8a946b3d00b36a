"""Write bench/data/handbook.jsonl: a company handbook of short sections, most with a question
that asks for the section's fact in other words than the section uses (a paraphrase: few or no
words in common once stemmed and stop words are out; bench/retrieval.py prints how many).

Hand-written, not generated, so the questions read like a person's. One line per section:
{"document", "heading", "text", "question"} (question null: a section nobody asks about, there
to compete). Run `python -m bench.data.make_handbook` after editing the list below.
"""

# ruff: noqa: E501  (one section per line reads better than wrapped text)
from __future__ import annotations

import json
from pathlib import Path

# (document, heading, text, question or None)
# fmt: off
SECTIONS: list[tuple[str, str, str, str | None]] = [
    # ---- Leave
    ("Leave", "Annual leave", "Employees accrue twenty-five days of paid annual leave per calendar year, plus public holidays.", "How much vacation do I receive every twelve months?"),
    ("Leave", "Carrying leave over", "Up to five unused leave days can be carried into the next year; the rest expire on 31 March.", "What happens to holiday I did not take before January?"),
    ("Leave", "Sick leave", "If you are ill, tell your line manager before 10am. A doctor's certificate is required from the fourth consecutive day of absence.", "When do I have to bring a note from a physician when I'm unwell?"),
    ("Leave", "Parental leave", "Birth parents receive twenty weeks of fully paid parental leave; the second parent receives ten weeks.", "How long can a new mother stay home with her baby on salary?"),
    ("Leave", "Bereavement", "Staff may take up to five days of paid compassionate leave after the death of a close relative.", "Do I get time off if a family member passes away?"),
    ("Leave", "Jury duty", "Court service as a juror is paid at full salary; forward the summons to HR as soon as it arrives.", "I've been called to sit on a trial panel, will I still be paid?"),
    ("Leave", "Sabbatical", "After seven years of service an unpaid sabbatical of up to three months can be requested.", "Can long-serving people take an extended career break?"),
    ("Leave", "Booking holidays", "Holidays are booked in the HR portal at least two weeks ahead and approved by your manager.", None),
    ("Leave", "Volunteering", "Every employee has two paid volunteering days a year to support a registered charity.", "Am I allowed paid hours to help a nonprofit?"),
    ("Leave", "Unpaid leave", "Unpaid leave of up to one month may be granted for personal reasons at the manager's discretion.", None),
    # ---- Pay
    ("Pay", "Pay day", "Salaries are paid on the 25th of each month; when that falls on a weekend, on the Friday before.", "On what date does my wage arrive in the bank?"),
    ("Pay", "Payslips", "Payslips are published in the payroll system two days before payment and kept there for six years.", "Where can I look at the breakdown of my earnings?"),
    ("Pay", "Pension", "The company contributes 6% of base salary to the pension scheme when the employee contributes at least 3%.", "How much does the employer put toward my retirement savings?"),
    ("Pay", "Overtime", "Hours worked beyond 40 in a week are paid at 1.5 times the hourly rate if approved in advance.", "Do I earn extra for staying late beyond the normal schedule?"),
    ("Pay", "Bonus", "The annual bonus depends on company results and individual performance and is paid each March.", "When is the yearly incentive handed out?"),
    ("Pay", "Health insurance", "Private medical insurance covers employees and their children; partners can be added at a reduced rate.", "Is my family covered for doctor visits and hospital care?"),
    ("Pay", "Dental", "Dental care is reimbursed up to 500 euros a year after a three-month waiting period.", "How much of a trip to have my teeth fixed will be refunded?"),
    ("Pay", "Gym", "A monthly fitness allowance of 40 euros can be claimed against any sports club membership.", "Will the firm chip in for a health club subscription?"),
    ("Pay", "Salary review", "Salaries are reviewed once a year in January against market data for each role.", "How often are wages looked at for a raise?"),
    ("Pay", "Bike scheme", "Through the cycle-to-work scheme staff can lease a bicycle tax free, repaid from gross salary.", "Can I get a cheap two-wheeler for my commute?"),
    ("Pay", "Referral reward", "Recommending a candidate who is hired and passes probation earns a 2,000 euro reward.", "What do I receive if a friend I suggested joins us?"),
    ("Pay", "Share plan", "Employees may buy company shares at a 15% discount through monthly salary deductions.", None),
    # ---- Expenses
    ("Expenses", "Receipts", "Keep receipts for any expense over 25 euros and submit them within thirty days through the finance portal.", "How soon must I hand in proof of purchase to be reimbursed?"),
    ("Expenses", "Flights", "Flights under six hours are booked in economy class; longer ones may be premium economy.", "Which cabin should I choose when flying to a client abroad?"),
    ("Expenses", "Hotels", "Hotel nights are capped at 180 euros in capital cities and 130 euros elsewhere.", "What's the maximum I can spend on accommodation per night on a trip?"),
    ("Expenses", "Meals on trips", "While travelling, meals are covered up to 60 euros a day; alcohol is never reimbursed.", "How much can I claim for food when I'm away on business?"),
    ("Expenses", "Mileage", "Using a private car for business is refunded at 0.30 euros per kilometre driven.", "What rate do I get for driving my own vehicle to see customers?"),
    ("Expenses", "Corporate card", "Managers and frequent travellers receive a company credit card; personal purchases on it are not allowed.", "Can I use the business Visa for my groceries?"),
    ("Expenses", "Train travel", "Rail trips of under four hours are preferred to flying and may be booked in first class.", "Is it okay to sit in the premium carriage on the railway?"),
    ("Expenses", "Visa costs", "Visa and passport fees needed for business travel are reimbursed in full.", "Who pays the entry permit charges when a country requires them?"),
    ("Expenses", "Travel insurance", "All business trips are covered by the company's travel insurance; call the assistance line for emergencies abroad.", "Am I protected if I get sick in another country during work travel?"),
    ("Expenses", "Taxis", "Taxis are allowed late at night or when public transport is not available.", None),
    ("Expenses", "Client entertainment", "Entertaining clients requires prior approval and is capped at 80 euros per guest.", "How much may I spend taking a customer out for dinner?"),
    # ---- IT
    ("IT", "Passwords", "Passwords must have at least fourteen characters and are changed only when a compromise is suspected.", "How long does my login secret have to be?"),
    ("IT", "Two-factor", "Every account is protected with an authenticator app; SMS codes are not accepted.", "What second verification step is required when I sign in?"),
    ("IT", "Laptop replacement", "Laptops are replaced every three years, or sooner if they fail and cannot be repaired.", "How often do we get new computers?"),
    ("IT", "Broken laptop", "A broken laptop goes to the IT desk on the second floor; a loan device is provided the same day.", "My notebook stopped working, where should I take it?"),
    ("IT", "Lost device", "Report a lost or stolen phone or laptop to security within one hour so it can be wiped remotely.", "I misplaced my mobile on the train, what should I do right away?"),
    ("IT", "Phishing", "Forward suspicious emails to the security team with the report button; never click their links.", "Someone sent me a strange message asking me to log in, how do I flag it?"),
    ("IT", "Software installs", "Only software from the self-service catalogue may be installed; other tools need a security review.", "Can I put any program I like on my work machine?"),
    ("IT", "VPN", "Connect through the VPN whenever you work from a public network such as a café or airport.", "What must I switch on before browsing from coffee shop wifi?"),
    ("IT", "Printing", "Print jobs are released at any printer by tapping your badge; unclaimed jobs are deleted after a day.", "How do I collect my documents from the copier?"),
    ("IT", "Backups", "Files saved to the shared drive are backed up every night and kept for ninety days.", "If I delete something by mistake, can it be restored?"),
    ("IT", "Personal devices", "Private phones can read work email only after installing the device management profile.", "Is it allowed to check my inbox on my own smartphone?"),
    ("IT", "Screen lock", "Lock your screen whenever you leave your desk; it locks itself after five minutes of inactivity.", None),
    ("IT", "Data classification", "Documents are labelled public, internal, confidential or secret; secret files never leave company systems.", "What are the sensitivity levels for paperwork?"),
    # ---- Office
    ("Office", "Opening hours", "The office opens at 7am and closes at 9pm on weekdays; it is closed at weekends.", "When can I get into the building?"),
    ("Office", "Parking", "The car park has 120 spaces allocated first come, first served; electric cars charge for free.", "Is there somewhere to leave my vehicle when I come in?"),
    ("Office", "Bicycles", "Bicycles go in the locked shed behind building B; showers are on the ground floor.", "Where can I store my bike and freshen up after riding in?"),
    ("Office", "Meeting rooms", "Meeting rooms are reserved in the calendar; a booking not checked in within ten minutes is released.", "How do I grab a conference space for a discussion?"),
    ("Office", "Desk booking", "Desks are shared and booked a day ahead in the workplace app; personal items go in lockers overnight.", "Do I have my own permanent workstation?"),
    ("Office", "Canteen", "The canteen serves lunch from 11:30 to 14:00; meals are subsidised to 4 euros.", "What time is food served at the cafeteria and how much does it cost?"),
    ("Office", "Visitors", "Guests sign in at reception and must be accompanied by their host at all times.", "What should someone I invite do when they arrive?"),
    ("Office", "Lost property", "Items found in the building are kept at reception for one month.", "Where would I find a scarf I left behind?"),
    ("Office", "Mail", "Incoming post is sorted by noon and delivered to team pigeonholes.", "When do letters addressed to me show up?"),
    ("Office", "Quiet zones", "The fourth floor is a silent area: no calls or meetings there.", "Is there a place to concentrate without noise?"),
    ("Office", "Cleaning", "Desks are cleaned every evening; clear them before leaving so the cleaners can wipe them.", None),
    # ---- Remote work
    ("Remote work", "Working from home", "Staff may work from home up to three days a week, agreed with their manager.", "How many days am I allowed to do my job remotely?"),
    ("Remote work", "Home office equipment", "A one-off allowance of 300 euros covers a chair, monitor or desk for working at home.", "Will the company pay for furniture in my spare room?"),
    ("Remote work", "Working abroad", "Working from another country is limited to twenty days a year and needs HR approval for tax reasons.", "Can I spend a month doing my tasks from Spain?"),
    ("Remote work", "Core hours", "Everyone is reachable between 10am and 3pm; outside these hours schedules are flexible.", "During which part of the day must I be available?"),
    ("Remote work", "Internet costs", "A monthly internet allowance of 20 euros is paid to people who work from home regularly.", "Does the employer help cover my broadband bill?"),
    # ---- Safety
    ("Safety", "Fire alarm", "When the fire alarm sounds, leave by the nearest stairs and gather at the assembly point in the north car park.", "Where do we meet outside if there's a blaze?"),
    ("Safety", "First aid", "First aiders wear green lanyards; the first aid kit is next to each kitchen.", "Who can help if a colleague faints?"),
    ("Safety", "Accidents", "Every injury at work, however small, is recorded in the incident log within 24 hours.", "I cut my finger on the paper trimmer, do I have to tell anyone?"),
    ("Safety", "Eye tests", "Screen users are entitled to a free eye test every two years and a contribution to glasses.", "Will my optician appointment be paid for?"),
    ("Safety", "Workstation assessment", "New starters get an ergonomic assessment of their workstation in their first month.", "Can someone check my chair and monitor height?"),
    ("Safety", "Mental health", "The employee assistance programme offers six free confidential counselling sessions a year.", "I'm feeling overwhelmed, is there someone I can talk to privately?"),
    ("Safety", "Lone working", "Anyone in the building after 9pm must sign the late-working register at security.", None),
    # ---- Learning
    ("Learning", "First day", "On your first day, come to reception at 9am; your buddy will collect you and show you around.", "Where should a new joiner go on the morning they start?"),
    ("Learning", "Probation", "The probation period lasts six months, with a review meeting at three months.", "How long is the trial period for new hires?"),
    ("Learning", "Training budget", "Each employee has a yearly learning budget of 1,000 euros for courses, books and conferences.", "How much money can I spend on improving my skills?"),
    ("Learning", "Mentoring", "Anyone can ask for a mentor from another department through the mentoring programme.", "Is it possible to be paired with an experienced colleague for advice?"),
    ("Learning", "Language classes", "Free language lessons are held twice a week at lunchtime.", "Are there courses to learn Spanish or German?"),
    ("Learning", "Certifications", "Exam fees for professional certifications are reimbursed when the exam is passed.", "Will I get my money back for a qualification test?"),
    ("Learning", "Compliance training", "Data protection and anti-bribery training must be completed every year.", None),
    # ---- Conduct
    ("Conduct", "Gifts", "Gifts from suppliers worth more than 50 euros must be declared and may have to be returned.", "A vendor sent me an expensive bottle of wine, can I keep it?"),
    ("Conduct", "Conflicts of interest", "Tell HR about any outside job or shareholding that could conflict with your duties.", "I run a small business on the side, should I mention it?"),
    ("Conduct", "Harassment", "Harassment can be reported to HR or anonymously through the ethics hotline.", "Where can I raise a complaint about a colleague's unwelcome behaviour without giving my name?"),
    ("Conduct", "Dress code", "There is no dress code; wear what is appropriate when meeting clients.", "Do I need to wear a suit?"),
    ("Conduct", "Social media", "Do not post confidential information online, and say your opinions are your own.", "What are the rules for tweeting about my job?"),
    ("Conduct", "Notice period", "Resignations are given in writing; the notice period is one month, three months for managers.", "How far in advance must I tell the firm I'm quitting?"),
    ("Conduct", "Performance reviews", "Performance is discussed in two review conversations a year, in June and December.", "When are appraisals held?"),
    ("Conduct", "Grievances", "A formal grievance is raised in writing to HR, who respond within ten working days.", None),
    ("Conduct", "References", "Only HR gives references for former employees, confirming dates and job title.", "Who answers when a future employer asks about someone who left?"),
    ("Conduct", "Whistleblowing", "Concerns about fraud or law-breaking can be raised with the audit committee without fear of retaliation.", "I suspect accounting fraud, who can I safely alert?"),
    # ---- Purchasing
    ("Purchasing", "Purchase orders", "Purchases above 1,000 euros need a purchase order approved before the supplier is engaged.", "What paperwork is required before buying something expensive from a vendor?"),
    ("Purchasing", "New suppliers", "New suppliers are checked by procurement for sanctions and financial health before their first order.", "How do we vet a company we have never bought from?"),
    ("Purchasing", "Invoices", "Supplier invoices are paid thirty days after they are received.", "How quickly do we settle a vendor's bill?"),
    ("Purchasing", "Budgets", "Department budgets are set in November for the following year and reviewed each quarter.", "When is next year's spending plan decided?"),
    ("Purchasing", "Signing contracts", "Only directors may sign contracts; legal reviews every contract above 10,000 euros first.", "Who is authorised to put their name on an agreement?"),
    ("Purchasing", "Office supplies", "Stationery is ordered through the office manager every Monday.", None),
    # ---- Support
    ("Support", "Response times", "Customer emails are answered within one business day; urgent tickets within two hours.", "How fast must we reply to a client who writes in?"),
    ("Support", "Escalation", "Tickets unresolved after 48 hours are escalated to a team lead.", "What happens if a problem stays open for two days?"),
    ("Support", "Refund approval", "Agents may refund up to 100 euros on their own; larger refunds need a supervisor.", "Can I give a customer their money back without asking my boss?"),
    ("Support", "Phone hours", "The phone line is staffed from 8am to 6pm, Monday to Friday.", "When can buyers ring us?"),
    ("Support", "Satisfaction survey", "After every closed ticket the customer receives a short survey; scores are reviewed weekly.", "How do we find out whether clients were happy with the help?"),
    ("Support", "Abusive callers", "Agents may end a call after one warning if the caller is abusive.", "Do I have to keep talking to someone who is shouting insults?"),
    # ---- Shop
    ("Shop", "Delivery times", "Orders placed before 2pm ship the same day and arrive in two to four working days.", "If I buy something this morning, when will the parcel reach me?"),
    ("Shop", "Shipping cost", "Shipping is free on orders over 50 euros; below that it costs 4.95 euros.", "Do I have to pay postage?"),
    ("Shop", "Returns window", "Unused items can be returned within 30 days of delivery for a full refund.", "How long do I have to send back something I don't want?"),
    ("Shop", "Damaged goods", "If an item arrives damaged, send a photo within 48 hours and we send a replacement.", "My package came broken, what do I do?"),
    ("Shop", "International orders", "We deliver to 28 European countries; import duties outside the EU are paid by the buyer.", "Can you post to Switzerland and who covers customs fees?"),
    ("Shop", "Gift cards", "Gift cards are valid for two years and can be used on any product.", "How long before a present voucher expires?"),
    ("Shop", "Order tracking", "A tracking link is emailed as soon as the parcel leaves the warehouse.", "How can I see where my package is?"),
    ("Shop", "Warranty", "All electronics carry a two-year warranty covering manufacturing faults.", "What if my gadget stops functioning after a year?"),
    ("Shop", "Price match", "We match a lower price from a major competitor within seven days of purchase.", "A rival store sells it cheaper, will you lower yours?"),
    ("Shop", "Cancel an order", "An order can be cancelled free of charge until it has been dispatched.", None),
    # ---- Espresso machine
    ("Espresso machine", "Descaling", "Descale the machine every two months with the supplied solution; the orange light reminds you.", "How often does the limescale need removing from the coffee maker?"),
    ("Espresso machine", "Water tank", "The water tank holds 1.8 litres and lifts out from the back for filling.", "How much liquid fits in the reservoir?"),
    ("Espresso machine", "Milk frother", "Purge the steam wand for two seconds after each use to keep milk from drying inside.", "How do I keep the foaming nozzle clean?"),
    ("Espresso machine", "Grind size", "If the coffee runs too fast, set the grinder finer; if it drips, set it coarser.", "My shot pours out quickly and tastes sour, what should I adjust?"),
    ("Espresso machine", "Standby", "The machine switches to standby after 30 minutes without use to save energy.", "Does the appliance turn itself off when idle?"),
    ("Espresso machine", "Error E4", "Error E4 means the brewing unit is blocked: remove it, rinse it under the tap and refit it.", "The display shows E4, how do I fix it?"),
    ("Espresso machine", "Cup warmer", "The top plate warms cups while the machine is on.", None),
    # ---- Thermostat
    ("Thermostat", "Schedules", "Set a weekly heating schedule in the app; up to six temperature changes per day.", "Can I program the radiators to warm the house before I wake up?"),
    ("Thermostat", "Away mode", "Away mode lowers the temperature to 15 degrees while everyone is out, using phone location.", "Does it know when nobody is home to save energy?"),
    ("Thermostat", "Batteries", "The thermostat runs on two AA batteries that last about a year; the app warns when they are low.", "What powers the wall unit and how long does it last?"),
    ("Thermostat", "Frost protection", "Frost protection switches the heating on if the room falls below 5 degrees.", "Will my pipes be safe during a cold snap?"),
    ("Thermostat", "Reset", "Hold the dial for ten seconds to restore factory settings.", "How do I wipe everything and start over?"),
    ("Thermostat", "Compatibility", "It works with gas boilers, heat pumps and most electric heating systems.", None),
]
# fmt: on


def main() -> None:
    path = Path(__file__).with_name("handbook.jsonl")
    with path.open("w", encoding="utf-8") as out:
        for document, heading, text, question in SECTIONS:
            line = {"document": document, "heading": heading, "text": text, "question": question}
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    asked = sum(q is not None for *_, q in SECTIONS)
    print(f"{path}: {len(SECTIONS)} sections, {asked} questions")


if __name__ == "__main__":
    main()
